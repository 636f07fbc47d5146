"""Input kinds (``input.dims``) and decoder stages (``upsample`` + ``skip``): one mechanism for all kinds.

A 1-D space loads, refuses image blocks by field, builds, counts, exports and runs under
onnxruntime; a temporal U-Net joins the right stage; every mismatch is refused at load time
with the field path.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import yaml

from hynas.build import block_plan, build_model
from hynas.cost import arch_cost
from hynas.errors import ArchError, SpecError
from hynas.export import generate_source, load_generated
from hynas.space import load_space
from hynas.space.arch import Arch
from hynas.space.loader import parse_space
from hynas.space.sampling import contains, sample

SIGNAL = {
    "name": "sig",
    "input": {"dims": 1, "channels": 2, "length": 128, "classes": 8},
    "stem": {"width": [32, 48], "blocks": {"conv1d_stem": {"reduction": [1, 2]}}},
    "stages": [
        {"name": "s1", "width": [32, 48], "depth": [1, 2], "blocks": ["mbconv1d", "convnext1d"]},
        {"name": "s2", "width": [64, 96], "depth": [1, 2], "downsample": "conv1d_down", "blocks": ["mhsa1d"]},
        {"name": "s3", "width": [32, 48], "upsample": "upsample1d", "skip": "s1", "depth": 1,
         "blocks": ["mbconv1d"]},
    ],
    "head": "pool_linear",
}


def _space(**edits) -> dict:
    d = yaml.safe_load(yaml.safe_dump(SIGNAL))
    for path, value in edits.items():
        node = d
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return d


def test_signal_space_builds_counts_and_round_trips() -> None:
    space = parse_space(_space())
    rng = random.Random(0)
    for _ in range(8):
        arch = sample(space, rng)
        assert arch.dims == 1 and arch.input_shape(3) == (3, 2, 128)
        assert contains(space, arch)
        # the U-Net stage is tied to the skip's width (merge sum) and joins s1 at its length
        assert arch.stages[2]["blocks"][0]["out"] == arch.stages[0]["blocks"][-1]["out"]
        units = block_plan(arch)
        assert all(u.w == 1 and u.dims == 1 for u in units)
        assert arch_cost(arch, memory=False).macs == pytest.approx(sum(u.macs() for u in units), rel=0.01)
        torch.manual_seed(0)
        net = build_model(arch).eval()
        x = torch.randn(arch.input_shape(2))
        clone = load_generated(generate_source(arch)).build().eval()
        clone.load_state_dict(net.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(clone(x), net(x))
            assert net(x).shape == (2, 8)


def test_signal_arch_runs_under_onnxruntime(tmp_path) -> None:
    import onnxruntime as ort

    from hynas.export.onnx import export_onnx

    arch = sample(parse_space(_space()), random.Random(3))
    net = build_model(arch).eval()
    path = export_onnx(arch, tmp_path / "a.onnx", model=net)
    x = torch.randn(arch.input_shape(2))
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-4)


def test_image_archs_keep_their_hash() -> None:
    """``dims`` is written only when it is not 2: every image arch stored before hashes alike."""
    arch = sample(load_space("default"), random.Random(0))
    assert "dims" not in arch.input and arch.dims == 2
    assert Arch(arch.to_dict()).hash == arch.hash


@pytest.mark.parametrize(("edits", "field", "says"), [
    ({"stages.0.blocks": ["mbconv"]}, "stages[0].blocks.mbconv", "runs on 2-D"),
    ({"head": "conv_head"}, "head.conv_head", "runs on 2-D"),
    ({"input.resolution": 128, "input.length": None}, "input.resolution", "'length', not 'resolution'"),
    ({"input.length": None}, "input.length", "is missing"),
    ({"input.dims": 4}, "input.dims", "out of range"),
    ({"stages.2.skip": "s2"}, "stages[2].skip", "joins stage 's2'"),
    ({"stages.2.skip": "s9"}, "stages[2].skip", "not an earlier stage"),
    ({"stages.2.merge": "mean"}, "stages[2].merge", "not a merge"),
    ({"stages.2.width": [40]}, "stages[2].width", "merge sum adds stage 's1'"),
    ({"stages.2.downsample": "conv1d_down"}, "stages[2].downsample", "either downsamples or upsamples"),
    ({"stages.1.merge": "sum"}, "stages[1].merge", "add 'skip"),
    ({"input.length": 126}, "input.length", "a multiple of 4 (e.g. 128)"),
    ({"input.length": 131, "stem.blocks.conv1d_stem.reduction": [1]}, "input.length", "a multiple of 2 (e.g. 132)"),
])
def test_bad_signal_spaces_are_refused_by_field(edits, field, says) -> None:
    with pytest.raises(SpecError) as e:
        parse_space(_space(**edits))
    assert field in str(e.value) and says in str(e.value)


def test_image_block_in_a_signal_arch_is_refused() -> None:
    arch = sample(parse_space(_space()), random.Random(0)).to_dict()
    arch["stages"][0]["blocks"][0] = {"type": "mbconv", "out": 32,
                                      "knobs": {k: v.default for k, v in
                                                __import__("hynas.blocks", fromlist=["x"]).block_class("mbconv")
                                                .block_info.knobs.items()}}
    with pytest.raises(ArchError, match="runs on 2-D"):
        build_model(Arch(arch))


def test_length_check_counts_a_unet_path_at_its_bottom() -> None:
    from hynas.space.loader import deepest_halvings

    sp = parse_space(_space())
    assert deepest_halvings(sp.stages) == 1  # s2 halves, s3 doubles back: the bottom is one halving deep
    parse_space(_space(**{"input.length": 132}))  # stem 2 x 2 = 4 divides 132
    with pytest.raises(SpecError, match="total reduction of 4"):
        parse_space(_space(**{"input.length": 130}))


def test_length_the_strides_cannot_divide_is_refused() -> None:
    arch = sample(parse_space(_space()), random.Random(0))
    with pytest.raises(ArchError, match="length"):
        block_plan(arch, 127 * 2 + 1)


def test_concat_skip_adds_channels() -> None:
    d = _space(**{"stages.2.merge": "concat", "stages.2.width": [24]})
    arch = sample(parse_space(d), random.Random(1))
    units = block_plan(arch)
    s1_out = arch.stages[0]["blocks"][-1]["out"]
    first_dec = next(u for u in units if u.stage == 2 and u.role == "body")
    assert first_dec.in_ch == 24 + s1_out
    assert build_model(arch)(torch.randn(arch.input_shape(2))).shape == (2, 8)


@pytest.mark.parametrize(("space", "ref"), [("signal", "clst"), ("speech", "squeezeformer_xs")])
def test_shipped_1d_spaces_contain_their_reference(space: str, ref: str) -> None:
    from hynas.resources import references_dir
    from hynas.space import fixed_arch

    sp = load_space(space)
    assert sp.input.dims == 1
    assert contains(sp, fixed_arch(load_space(references_dir() / f"{ref}.yaml")))


def test_scaled_unet_keeps_its_sum_join() -> None:
    """Landmark width scaling gives both ends of a sum join one width (a quantum both accept)."""
    from hynas.resources import references_dir
    from hynas.results.landmarks import scale_widths
    from hynas.space import fixed_arch

    ref = fixed_arch(load_space(references_dir() / "squeezeformer_xs.yaml"))
    for div in (2, 4, 8):
        small = scale_widths(ref, div)
        block_plan(small)  # raises ArchError on a width mismatch
        assert small.stages[2]["blocks"][0]["out"] == small.stages[0]["blocks"][-1]["out"]
