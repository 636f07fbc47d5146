"""OpenVINO on CPU (``openvino-cpu``), reading the same exported ONNX as ``ort-cpu``.

Compiled for latency: one stream, a fixed inference thread count (1 by default; ``@tN``),
fp32 inference precision (so a CPU with bf16 units does not silently run bf16). With one
thread OpenVINO infers on the calling thread (thread and process CPU time agreed within
0.1% for the reference network here), so the thread-CPU clock applies as for ``ort-cpu``.
Optional: ``pip install 'hynas[openvino]'``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hynas.latency.target import TARGETS, Target


def _openvino() -> Any | None:
    try:
        import openvino

        return openvino
    except ImportError:
        return None


@dataclass(frozen=True)
class OpenVinoCpu(Target):
    """OpenVINO CPU plugin, fp32, one stream, latency hint; reads the exported ONNX."""

    def unavailable(self) -> str | None:
        if _openvino() is None:
            return "OpenVINO is not installed; install it with `pip install 'hynas[openvino]'` (PyPI `openvino`)."
        return None

    def runtime_versions(self) -> dict[str, str]:
        import torch

        ov = _openvino()
        return {"openvino": ov.__version__.split("-")[0] if ov else "missing", "torch": torch.__version__}

    def compile(self, onnx_bytes: bytes) -> Any:
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory(prefix="hynas-ov-") as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(onnx_bytes)
            model = core.read_model(str(path))
        config = {
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        return core.compile_model(model, "CPU", config)

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        from hynas.latency.onnx_io import export_bytes

        request = self.compile(export_bytes(model, shape)).create_infer_request()
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        return lambda: request.infer({0: x})


TARGETS.register(
    "openvino-cpu", OpenVinoCpu("openvino-cpu", runtime="openvino", device="cpu", precision="fp32")
)
