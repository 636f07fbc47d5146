"""The zoo's reference models round-trip through generated code (``hynas export``'s model.py) with equal
outputs, and export to ONNX; shrunk (widths / 4, 64x64 input) to keep the default suite fast: same block
code, less work. The shipped-space equivalence check (tests/export) also runs them in a fresh interpreter."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
import torch

from hynas.build import build_model
from hynas.export import generate_source, load_generated
from hynas.results.landmarks import scale_widths
from hynas.space import fixed_arch, load_space

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"
ZOO = ["mobilevit_s", "mobilevitv2_100", "efficientformer_l1", "efficientformerv2_s1", "efficientvit_b1",
       "tiny_vit_5m_224", "coatnet_0_224", "fastvit_sa12"]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_reference_round_trips_through_generated_code(name: str) -> None:
    arch = scale_widths(fixed_arch(load_space(REF / f"{name}.yaml")), 4).with_input(resolution=64, classes=10)
    torch.manual_seed(0)
    model = build_model(arch)
    model.train()(torch.randn(2, 3, 64, 64))  # move BN statistics off their initial values
    model.eval()
    clone = load_generated(generate_source(arch)).build().eval()
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x), atol=1e-5, rtol=1e-5)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(clone, (x[:1],), buf, dynamo=False, opset_version=17)
    assert buf.getbuffer().nbytes > 0


@pytest.mark.parametrize("name", ["mobilevit_s", "mobilevitv2_100"])
def test_mobilevit_runs_in_onnxruntime_on_maps_smaller_than_its_patch(name: str) -> None:
    """At a 32x32 input the last stage's map is 1x1: one token per pixel, no resize (which onnxruntime's
    graph optimiser rejects at that size), outputs equal to torch's."""
    import onnxruntime as ort

    from hynas.latency.onnx_io import export_bytes

    arch = scale_widths(fixed_arch(load_space(REF / f"{name}.yaml")), 4).with_input(resolution=32, classes=10)
    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = torch.randn(2, 3, 32, 32)
    sess = ort.InferenceSession(export_bytes(model, (2, 3, 32, 32)), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(sess.run(None, {"input": x.numpy()})[0]), model(x),
                                   atol=1e-4, rtol=1e-4)
