"""Measurement on real runtimes (onnxruntime, torch): fields, batch naming, int8, unavailable targets."""

import json

import pytest
import torch

from hynas.errors import UserError
from hynas.latency import TARGETS, measure_latency, measure_unit, resolve_target
from hynas.latency.timing import time_callable

from .conftest import QUICK


def test_targets_registered():
    assert {"ort-cpu", "ort-cpu-int8", "torch-cpu", "torch-cuda"} <= set(TARGETS.names())
    for name, t in TARGETS.items():
        d = t.describe()
        assert (
            d["name"] == name and d["batch"] >= 1 and d["threads"] >= 1 and d["precision"] in ("fp32", "fp16", "int8")
        )


def test_measure_tiny_arch_returns_sane_fields(tiny_archs):
    r = measure_latency(tiny_archs[0], "ort-cpu", policy=QUICK)
    assert 0 < r.p10_ms <= r.median_ms <= r.p90_ms
    assert r.repeats >= QUICK.min_repeats
    assert (r.target, r.batch, r.threads, r.precision, r.runtime) == ("ort-cpu", 1, 1, "fp32", "onnxruntime")
    assert r.method == "measured" and r.clock == "thread-cpu" and r.reference_ms > 0
    assert r.resolution == 16
    fp = r.fingerprint
    assert fp["cpu_count"] >= 1 and fp["cpu_model"] and "onnxruntime" in fp["runtime_versions"]
    json.dumps(r.as_dict())


def test_batch_by_name_or_argument(tiny_archs):
    r = measure_latency(tiny_archs[0], "ort-cpu@b4", policy=QUICK)
    assert (r.target, r.batch) == ("ort-cpu@b4", 4)
    r = measure_latency(tiny_archs[0], "torch-cpu", batch=3, policy=QUICK)
    assert (r.target, r.batch, r.runtime) == ("torch-cpu@b3", 3, "torch")


def test_int8_quantizes_and_runs_end_to_end(tiny_archs):
    from hynas.build import block_plan
    from hynas.latency.measure import unit_module
    from hynas.latency.onnx_io import export_bytes, quantize_int8

    unit = next(u for u in block_plan(tiny_archs[0]) if u.role == "body")
    q = quantize_int8(
        export_bytes(unit_module(unit), (1, unit.in_ch, unit.h, unit.w)), (1, unit.in_ch, unit.h, unit.w)
    )
    import onnx

    ops = {n.op_type for n in onnx.load_from_string(q).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    r = measure_latency(tiny_archs[0], "ort-cpu-int8", policy=QUICK)
    assert r.precision == "int8" and r.median_ms > 0


def test_unit_measurement(tiny_archs):
    from hynas.build import block_plan

    t = resolve_target("ort-cpu")
    for u in block_plan(tiny_archs[1]):
        timing = measure_unit(u, t, QUICK)
        assert timing.median_ms > 0 and timing.reference_ms > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_torch_cuda_says_clearly_why_not(tiny_archs):
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        measure_latency(tiny_archs[0], "torch-cuda")


def test_unknown_target_lists_known():
    with pytest.raises(UserError, match="ort-cpu"):
        resolve_target("tpu-v9")


def test_timing_orders_percentiles():
    t = time_callable(lambda: sum(range(2000)), QUICK, "thread-cpu")
    assert 0 < t.p10_ms <= t.median_ms <= t.p90_ms and t.repeats >= 5
