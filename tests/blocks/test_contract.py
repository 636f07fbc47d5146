"""Registry-wide contract: every registered block builds at two map sizes, runs forward and
backward, counts MACs equal to its analytic formula (within 1%), exports to ONNX, and
round-trips through generated code with identical outputs.

Blocks may set ``contract_maps = (h1, h2)`` (e.g. windows that must divide the map) and
``contract_knobs = {...}`` for the configuration the test uses. A block is checked on every
input kind it declares (``dims``): 1-D blocks on (N, C, L) signals, 2-D on NCHW maps.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from hynas.blocks import BLOCKS
from hynas.cost import count_macs
from hynas.export import generate_source, load_generated
from hynas.space.arch import Arch

IN_CH, OUT_CH = 16, 32


def _variants(cls) -> list[dict]:
    """Defaults, then each choice-knob's other values one at a time."""
    info = cls.block_info
    base = {k: v.default for k, v in info.knobs.items()} | getattr(cls, "contract_knobs", {})
    out = [base]
    for k, spec in sorted(info.knobs.items()):
        for v in spec.choices or ():
            if v != base[k] and len(out) < 12:
                out.append(base | {k: v})
    return out


def _make(cls, knobs: dict, stride: int = 1):
    role = cls.block_info.role
    if role == "body":
        return cls(IN_CH, OUT_CH, stride, **knobs)
    if role == "head":
        return cls(IN_CH, 10, **knobs)
    return cls(IN_CH if role in ("downsample", "upsample") else 3, OUT_CH, **knobs)


def _in_ch(cls) -> int:
    return 3 if cls.block_info.role == "stem" else IN_CH


def _formula(cls, knobs: dict, h: int, stride: int = 1, dims: int = 2) -> int:
    role = cls.block_info.role
    out = 10 if role == "head" else OUT_CH
    extra = {"dims": 3} if dims == 3 else {}  # a 3-D formula counts depth = h
    return int(cls.macs(_in_ch(cls), out, stride, h, 1 if dims == 1 else h, **knobs, **extra))


def _x(n: int, c: int, h: int, dims: int, **kw) -> torch.Tensor:
    return torch.randn(n, c, *(h,) * dims, **kw)


NAMES = BLOCKS.names()
# field-embedding stems take a table, not a map: tests/blocks/test_fields.py holds them to the same contract,
# and heads that read the stem's output (separation masks) are held to it in tests/proxy/test_separation.py
CASES = [pytest.param(n, d, id=n if d == 2 else f"{n}-{d}d") for n in NAMES for d in BLOCKS.get(n).block_info.dims
         if not BLOCKS.get(n).block_info.fields and not getattr(BLOCKS.get(n), "takes_stem", False)]
#: the filler blocks of the small test network, per input kind: stem, body, head
FILLERS = {3: ("conv3d_stem", "conv3d_block", "pool_linear", "conv3d_down"),
           2: ("conv_stem", "mbconv", "pool_linear", "conv_down"),
           1: ("conv1d_stem", "mbconv1d", "pool_linear", "conv1d_down")}


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_block_contract(name: str, dims: int) -> None:
    cls = BLOCKS.get(name)
    maps = getattr(cls, "contract_maps", (8, 16))
    if cls.block_info.role == "stem":
        maps = tuple(m * 4 for m in maps)
    for knobs in _variants(cls):
        strides = (1, 2) if cls.block_info.role == "body" and cls.block_info.can_stride else (1,)
        for stride in strides:
            torch.manual_seed(0)
            m = _make(cls, knobs, stride)
            for h in maps:
                x = _x(2, _in_ch(cls), h, dims, requires_grad=True)
                y = m.train()(x)
                y.float().sum().backward()
                assert x.grad is not None and torch.isfinite(x.grad).all(), f"{name} {knobs}: no gradient"
                traced = count_macs(m.eval(), x[:1].detach())
                formula = _formula(cls, knobs, h, stride, dims)
                assert traced > 0
                assert abs(formula - traced) <= 0.01 * traced, (
                    f"{name} {knobs} stride {stride} at {h}x{h}: formula {formula} vs traced {traced}")


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_block_exports_to_onnx(name: str, dims: int) -> None:
    cls = BLOCKS.get(name)
    m = _make(cls, _variants(cls)[0]).eval()
    h = getattr(cls, "contract_maps", (8, 16))[0] * (4 if cls.block_info.role == "stem" else 1)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (_x(1, _in_ch(cls), h, dims),), buf, dynamo=False, opset_version=17)
    assert buf.getbuffer().nbytes > 0


def _arch_with(name: str, dims: int = 2) -> Arch:
    """A small network that uses block ``name`` in its role, on an input of ``dims`` axes."""
    f_stem, f_body, f_head, f_down = FILLERS[dims]
    cls = BLOCKS.get(name)
    role = cls.block_info.role
    knobs = {k: v.default for k, v in cls.block_info.knobs.items()} | getattr(cls, "contract_knobs", {})
    full = lambda n: {k: v.default for k, v in BLOCKS.get(n).block_info.knobs.items()}
    h = getattr(cls, "contract_maps", (8, 16))[0]
    stem = {"type": f_stem, "out": IN_CH, "knobs": full(f_stem) | {"reduction": 2}}
    stage = {"name": "s1", "downsample": {"type": "none", "knobs": {}},
             "blocks": [{"type": f_body, "out": IN_CH, "knobs": full(f_body)}]}
    head = {"type": f_head, "knobs": full(f_head)}
    res = 2 * h
    if role == "stem":
        stem = {"type": name, "out": IN_CH, "knobs": knobs}
        res = h * cls.reduction(**knobs)
    elif role == "body":
        stage["blocks"].append({"type": name, "out": OUT_CH, "knobs": knobs})
    elif role == "downsample":
        stage = {"name": "s1", "downsample": {"type": name, "knobs": knobs},
                 "blocks": [{"type": f_body, "out": OUT_CH, "knobs": full(f_body)}]}
        res = 4 * h
    elif role == "upsample":  # a decoder stage joined to the stem's output by a skip
        stage = {"name": "s1", "downsample": {"type": f_down, "knobs": full(f_down)},
                 "blocks": [{"type": f_body, "out": OUT_CH, "knobs": full(f_body)}]}
        up = {"name": "s2", "downsample": {"type": "none", "knobs": {}}, "upsample": {"type": name, "knobs": knobs},
              "skip": 0, "merge": "concat", "blocks": [{"type": f_body, "out": IN_CH, "knobs": full(f_body)}]}
        first = {"name": "s0", "downsample": {"type": "none", "knobs": {}},
                 "blocks": [{"type": f_body, "out": IN_CH, "knobs": full(f_body)}]}
        inp = {"channels": 3, "resolution": 4 * h, "classes": 10} | ({} if dims == 2 else {"dims": dims})
        return Arch({"input": inp, "stem": stem, "stages": [first, stage, up], "head": head})
    else:
        head = {"type": name, "knobs": knobs}
    inp = {"channels": 3, "resolution": res, "classes": 10} | ({} if dims == 2 else {"dims": dims})
    return Arch({"input": inp, "stem": stem, "stages": [stage], "head": head})


@pytest.mark.parametrize(("name", "dims"), CASES)
def test_block_round_trips_through_generated_code(name: str, dims: int) -> None:
    from hynas.build import build_model

    arch = _arch_with(name, dims)
    torch.manual_seed(0)
    model = build_model(arch).eval()
    mod = load_generated(generate_source(arch))
    clone = mod.build().eval()
    clone.load_state_dict(model.state_dict())
    x = torch.randn(arch.input_shape(2))
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x), atol=1e-5, rtol=1e-5)
