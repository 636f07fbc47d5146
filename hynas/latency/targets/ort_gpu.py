"""onnxruntime GPU targets: CUDA (``ort-cuda``, fp32) and TensorRT (``ort-tensorrt``, fp16).

Each needs an NVIDIA GPU and an onnxruntime build that ships the provider
(``onnxruntime-gpu``); elsewhere ``unavailable`` says which is missing. A session that
silently falls back to the CPU provider is refused, so a GPU target never times the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from hynas.errors import UserError
from hynas.latency.target import TARGETS, Target


def gpu_missing() -> str | None:
    """Why no NVIDIA GPU is usable here (None when torch sees one)."""
    import torch

    if torch.cuda.is_available():
        return None
    return (
        f"it needs an NVIDIA GPU and none is visible here (torch {torch.__version__}: "
        "torch.cuda.is_available() is False). Use a CPU target (`hynas list targets`), or run on a machine "
        "with a GPU."
    )


@dataclass(frozen=True)
class OrtGpu(Target):
    """onnxruntime on the first NVIDIA GPU through one execution provider; wall clock, synchronous run."""

    provider: str = "CUDAExecutionProvider"

    def unavailable(self) -> str | None:
        why = gpu_missing()
        if why:
            return why
        import onnxruntime as ort

        if self.provider not in ort.get_available_providers():
            return (
                f"onnxruntime {ort.__version__} here has no {self.provider} (available: "
                f"{', '.join(ort.get_available_providers())}); install `onnxruntime-gpu` in place of `onnxruntime`."
            )
        return None

    def runtime_versions(self) -> dict[str, str]:
        import onnxruntime
        import torch

        v = {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}
        if torch.cuda.is_available():
            v["gpu"] = torch.cuda.get_device_name(0)
        return v

    def provider_options(self) -> dict[str, Any]:
        if self.provider == "TensorrtExecutionProvider":
            return {"trt_fp16_enable": self.precision == "fp16", "trt_engine_cache_enable": False}
        return {}

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        import onnxruntime as ort

        from hynas.latency.onnx_io import export_bytes

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        sess = ort.InferenceSession(
            export_bytes(model, shape), so, providers=[(self.provider, self.provider_options())]
        )
        if sess.get_providers()[0] != self.provider:
            raise UserError(f"onnxruntime could not create {self.provider} here (got {sess.get_providers()}).")
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
        return lambda: sess.run(None, feed)  # outputs are copied to the host: run() returns after the GPU


@dataclass(frozen=True)
class OrtCuda(OrtGpu):
    """onnxruntime CUDAExecutionProvider on the first NVIDIA GPU, fp32 (needs onnxruntime-gpu)."""


@dataclass(frozen=True)
class OrtTensorrt(OrtGpu):
    """onnxruntime TensorrtExecutionProvider on the first NVIDIA GPU, fp16 engines (needs onnxruntime-gpu + TensorRT)."""


TARGETS.register("ort-cuda", OrtCuda("ort-cuda", runtime="onnxruntime", device="cuda", precision="fp32"))
TARGETS.register(
    "ort-tensorrt",
    OrtTensorrt(
        "ort-tensorrt", runtime="onnxruntime", device="cuda", precision="fp16",
        provider="TensorrtExecutionProvider",
    ),
)
