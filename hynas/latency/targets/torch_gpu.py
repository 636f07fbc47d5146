"""PyTorch GPU targets beyond eager fp32: ``torch-cuda-fp16`` (eager, half precision) and
``torch-compile-cuda`` (``torch.compile``, inductor, fp32). Each refuses without a GPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hynas.latency.target import TARGETS
from hynas.latency.targets.ort_gpu import gpu_missing
from hynas.latency.targets.torch_eager import TorchCuda


@dataclass(frozen=True)
class TorchCudaVariant(TorchCuda):
    """PyTorch on the first CUDA GPU in half precision and/or compiled; each run waits for the GPU."""

    compiled: bool = False

    def unavailable(self) -> str | None:
        return gpu_missing()

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        model = model.eval().to("cuda", dtype)
        fn = torch.compile(model, mode="max-autotune-no-cudagraphs") if self.compiled else model
        x = torch.randn(*shape, device="cuda", dtype=dtype)

        def run() -> Any:
            with torch.inference_mode():
                y = fn(x)
            torch.cuda.synchronize()
            return y

        with torch.inference_mode():
            fn(x)  # compiles (or warms the allocator) before the timing loop's warm-up
        torch.cuda.synchronize()
        return run


@dataclass(frozen=True)
class TorchCudaFp16(TorchCudaVariant):
    """PyTorch eager mode on the first CUDA GPU in fp16 (weights and activations); each run waits for the GPU."""


@dataclass(frozen=True)
class TorchCompileCuda(TorchCudaVariant):
    """torch.compile (inductor, max-autotune without CUDA graphs) on the first CUDA GPU, fp32."""


TARGETS.register(
    "torch-cuda-fp16", TorchCudaFp16("torch-cuda-fp16", runtime="torch", device="cuda", precision="fp16")
)
TARGETS.register(
    "torch-compile-cuda",
    TorchCompileCuda("torch-compile-cuda", runtime="torch-inductor", device="cuda", precision="fp32", compiled=True),
)
