"""LiteRT on CPU (``tflite-cpu``): refused with the install line where LiteRT is missing; where it is
installed (``pip install 'hynas[tflite]'``), converted networks compute what the built ones do and time."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hynas.build import build_model
from hynas.cli import main
from hynas.errors import UserError
from hynas.latency import measure_latency, resolve_target
from hynas.latency.reference import REFERENCE_SHAPE, ReferenceNet, ReferenceNetEinsum
from hynas.latency.targets.tflite_cpu import _missing

from .conftest import QUICK

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"

installed = _missing() is None
needs_litert = pytest.mark.skipif(not installed, reason="LiteRT not installed: pip install 'hynas[tflite]'")


def test_reference_spellings_compute_the_same_network():
    x = torch.randn(REFERENCE_SHAPE)
    with torch.no_grad():
        assert torch.allclose(ReferenceNet().eval()(x), ReferenceNetEinsum().eval()(x), atol=1e-6)


@pytest.mark.skipif(installed, reason="LiteRT is installed here")
def test_missing_litert_is_refused_with_the_install_line(capsys):
    with pytest.raises(UserError, match=r"hynas\[tflite\]"):
        resolve_target("tflite-cpu")
    with pytest.raises(SystemExit) as e:
        main(["latency", str(REF / "lowformer_b0.yaml"), "--target", "tflite-cpu"])
    assert e.value.code == 2 and "hynas[tflite]" in capsys.readouterr().err


@needs_litert
def test_converted_network_matches_and_times(tiny_archs):
    from hynas.latency.targets.tflite_cpu import interpreter, tflite_bytes

    a = tiny_archs[0]
    model, shape = build_model(a).eval(), a.input_shape()
    it = interpreter(tflite_bytes(model, shape), 1)
    x = torch.randn(shape)
    it.set_tensor(it.get_input_details()[0]["index"], x.numpy())
    it.invoke()
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(it.get_tensor(it.get_output_details()[0]["index"]) - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    r = measure_latency(a, "tflite-cpu", policy=QUICK)
    assert (r.runtime, r.clock) == ("litert", "thread-cpu") and 0 < r.p10_ms <= r.median_ms <= r.p90_ms
    assert r.reference_ms > 0 and r.fingerprint["runtime_versions"]["ai-edge-litert"] != "missing"
