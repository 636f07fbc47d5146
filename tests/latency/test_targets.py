"""Target names (@tN threads, @bN batch), OpenVINO on CPU, and GPU targets refusing where no GPU is."""

import pytest
import torch

from hynas.cli import main
from hynas.errors import UserError
from hynas.latency import TARGETS, measure_latency, resolve_target
from hynas.latency.target import lookup_target

from .conftest import QUICK

GPU_TARGETS = ("ort-cuda", "ort-tensorrt", "torch-cuda", "torch-cuda-fp16", "torch-compile-cuda")


@pytest.mark.parametrize("name, threads, batch, canonical", [
    ("ort-cpu@t4", 4, 1, "ort-cpu@t4"),
    ("ort-cpu@b8@t2", 2, 8, "ort-cpu@t2@b8"),
    ("torch-cpu@t1", 1, 1, "torch-cpu"),
    ("openvino-cpu@t2@b2", 2, 2, "openvino-cpu@t2@b2"),
])
def test_suffixes_set_threads_and_batch(name, threads, batch, canonical):
    t = lookup_target(name)
    assert (t.threads, t.batch, t.name) == (threads, batch, canonical)
    assert t.clock == ("thread-cpu" if threads == 1 else "wall")


@pytest.mark.parametrize("name, message", [
    ("ort-cpu@x4", "suffix '@x4' is not allowed"),
    ("ort-cpu@t", "suffix '@t' is not allowed"),
    ("ort-cpu@t2@t4", "each at most once"),
    ("ort-cpu@t0", "out of range"),
    ("ort-cpu@t999", "out of range"),
    ("torch-cuda@t2", "@tN sets CPU threads"),
])
def test_bad_suffix_is_a_user_error(name, message):
    with pytest.raises(UserError, match=message):
        lookup_target(name)


def test_threads_reach_the_runtime(tiny_archs):
    r = measure_latency(tiny_archs[0], "ort-cpu@t2", policy=QUICK)
    assert (r.target, r.threads, r.clock) == ("ort-cpu@t2", 2, "wall") and r.median_ms > 0


def test_openvino_cpu_times_a_tiny_arch(tiny_archs):
    pytest.importorskip("openvino", reason="pip install 'hynas[openvino]'")
    r = measure_latency(tiny_archs[0], "openvino-cpu", policy=QUICK)
    assert (r.runtime, r.clock) == ("openvino", "thread-cpu") and 0 < r.p10_ms <= r.median_ms <= r.p90_ms
    assert "openvino" in r.fingerprint["runtime_versions"] and r.reference_ms > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
@pytest.mark.parametrize("name", GPU_TARGETS)
def test_gpu_targets_are_registered_and_refuse_here(name, tiny_archs, capsys):
    assert TARGETS.get(name).device == "cuda"
    with pytest.raises(UserError, match="GPU"):
        resolve_target(name)
    main(["list", "targets"])
    listing = capsys.readouterr().out
    assert f"{name} " in listing and "unavailable here" in listing
