"""Params, MACs and peak activation memory.

MACs follow the papers' (fvcore) convention: one multiply-add = 1; convolutions, linear
layers and the two attention matmuls count; norms, activations, softmax and pooling do
not. fvcore silently skips ``scaled_dot_product_attention``, so a handle counts it; any
other op fvcore cannot count and whose name says it carries work makes the count fail
loudly instead of coming out low.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from hynas.build import block_plan, build_model
from hynas.space.arch import Arch

# ops whose names mean "this carries multiply-adds": never silently dropped
_WORK_HINTS = ("conv", "mm", "matmul", "einsum", "linear", "attention", "lstm", "gru", "rnn", "fft", "bilinear",
               "tensordot", "dot")
# ops fvcore counts by default that the papers do not count
_NOT_COUNTED = ("aten::batch_norm", "aten::group_norm", "aten::layer_norm", "aten::instance_norm",
                "aten::upsample_nearest2d", "aten::upsample_bilinear2d", "aten::adaptive_avg_pool2d",
                "aten::grid_sampler", "aten::upsample_linear1d", "aten::upsample_nearest1d",
                "aten::upsample_nearest3d", "aten::upsample_trilinear3d")


class CostError(RuntimeError):
    """An op carries work that the MAC counter cannot count."""


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    peak_activation_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    q, k, v = (inputs[i].type().sizes() for i in range(3))
    batch = 1
    for s in q[:-2]:
        batch *= s
    n, d, m, dv = q[-2], q[-1], k[-2], v[-1]
    return batch * n * m * (d + dv)


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Trace-based MAC count (fvcore) with attention counted and unknown work refused."""
    from fvcore.nn import FlopCountAnalysis

    fca = FlopCountAnalysis(model.eval(), (x,))
    fca.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
    for op in _NOT_COUNTED:  # a None handle does not override fvcore's defaults: count zero instead
        fca.set_op_handle(op, _zero)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    total = int(fca.total())
    bad = [op for op in fca.unsupported_ops() if any(h in op.lower() for h in _WORK_HINTS)]
    if bad:
        raise CostError(f"cannot count MACs of {', '.join(sorted(bad))}: register a handle in hynas/cost.py")
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def analytic_macs(arch: Arch, resolution: int | None = None) -> int:
    """MACs from each block's formula: no build, no trace (used for fast rule checks)."""
    return sum(u.macs() for u in block_plan(arch, resolution))


def params_fast(arch: Arch) -> int:
    """Exact parameter count by building on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return count_params(build_model(arch))


class _PeakMemory(TorchDispatchMode):
    """Tracks bytes of live tensor storages created during a forward pass; keeps the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, int] = {}

    def _release(self, key: int, nbytes: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                key, nbytes = st.data_ptr(), st.nbytes()
                if not key:
                    continue
                if key not in self._refs:
                    self._refs[key] = 0
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                self._refs[key] += 1
                weakref.finalize(t, self._release, key, nbytes)
        return out


def peak_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of intermediate tensors alive at once during one inference forward."""
    model.eval()
    mode = _PeakMemory()
    with torch.no_grad(), mode:
        model(x)
    return mode.peak


def predict_activation_bytes(arch: Arch, resolution: int | None = None, batch: int = 1,
                             bytes_per_value: int = 4) -> int:
    """Predicted peak activation memory of one inference forward, from the plan alone (nothing is built).

    The largest over units of its input plus its output plus the stage outputs a later skip still
    holds (a U-Net keeps its encoder levels alive), in fp32. A block's own intermediates (an MBConv's
    expansion, attention scores) are not in it, so it is a floor; docs/BENCHMARKS.md compares it with
    ``peak_activation_bytes`` measured by running the network.
    """
    from hynas.build import block_plan

    d = arch.to_dict()
    units = block_plan(arch, resolution)
    needed = {st["skip"]: i for i, st in enumerate(d["stages"]) if "skip" in st}  # source stage -> last user
    ends: dict[int, int] = {}  # stage -> its output's size, once it has ended
    peak = 0
    for k, u in enumerate(units):
        out_pos = u.positions(u.stride) if u.role != "upsample" else u.positions() * (2 if u.dims == 1 else 4 if
                                                                                       u.dims == 2 else 8)
        held = sum(v for s, v in ends.items() if needed.get(s, -1) >= u.stage)
        peak = max(peak, u.in_ch * u.positions() + u.out_ch * out_pos + held)
        nxt = units[k + 1] if k + 1 < len(units) else None
        if 0 <= u.stage < len(d["stages"]) and (nxt is None or nxt.stage != u.stage):
            ends[u.stage] = u.out_ch * out_pos
    return int(peak * batch * bytes_per_value)


_SCALES: dict[tuple[str, int], float] = {}


def activation_scale(space: Any, samples: int = 4, seed: int = 0) -> float:
    """How far the plan's floor falls below the measured peak in this space: the largest measured /
    predicted ratio over ``samples`` sampled archs (each built and run once at batch 1 on CPU; cached
    per space), so ``predict_activation_bytes * activation_scale`` bounds the sampled ones from above."""
    import random

    from hynas.space.sampling import sample

    key = (space.name, hash(space.raw))
    if key not in _SCALES:
        rng, ratios = random.Random(seed), []
        for _ in range(samples):
            a = sample(space, rng)
            model = build_model(a).eval()
            ratios.append(peak_activation_bytes(model, torch.zeros(a.input_shape(1))) / max(1, predict_activation_bytes(a)))
        _SCALES[key] = max(1.0, max(ratios))
    return _SCALES[key]


def arch_cost(arch: Arch, resolution: int | None = None, memory: bool = True) -> Cost:
    """Params, traced MACs and (optionally) peak activation memory of an arch at batch 1."""
    res = resolution or arch.input["resolution"]
    model = build_model(arch, res).eval()
    x = torch.zeros(arch.input_shape(1, res))
    macs = count_macs(model, x)
    peak = peak_activation_bytes(model, x) if memory else None
    return Cost(params=count_params(model), macs=macs, peak_activation_bytes=peak)
