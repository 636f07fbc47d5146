"""onnxruntime CPU targets: fp32 (``ort-cpu``) and static int8 QDQ (``ort-cpu-int8``).

Sessions use a fixed intra-op thread count (1 by default: the machine is shared and a
single thread is what an edge deployment of a small model typically gets), one inter-op
thread, sequential execution and all graph optimizations (so fusions happen as they
would in deployment).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from hynas.latency.target import TARGETS, Target


def ort_session(onnx_bytes: bytes, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class OrtCpu(Target):
    """onnxruntime, CPUExecutionProvider, fp32, all graph optimizations."""

    def runtime_versions(self) -> dict[str, str]:
        import onnxruntime
        import torch

        return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}

    def model_bytes(self, model: nn.Module, shape: tuple[int, ...]) -> bytes:
        from hynas.latency.onnx_io import export_bytes

        return export_bytes(model, shape)

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        sess = ort_session(self.model_bytes(model, shape), self.threads)
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
        return lambda: sess.run(None, feed)


@dataclass(frozen=True)
class OrtCpuInt8(OrtCpu):
    """onnxruntime CPU, static post-training int8 (QDQ, per-channel weights, MinMax calibration)."""

    def model_bytes(self, model: nn.Module, shape: tuple[int, ...]) -> bytes:
        from hynas.latency.onnx_io import export_bytes, quantize_int8

        return quantize_int8(export_bytes(model, shape), shape)


TARGETS.register("ort-cpu", OrtCpu("ort-cpu", runtime="onnxruntime", device="cpu", precision="fp32"))
TARGETS.register(
    "ort-cpu-int8", OrtCpuInt8("ort-cpu-int8", runtime="onnxruntime", device="cpu", precision="int8")
)
