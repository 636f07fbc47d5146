"""PyTorch eager targets: ``torch-cpu`` (fixed intra-op threads) and ``torch-cuda`` (where a GPU exists)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hynas.latency.target import TARGETS, Target


@dataclass(frozen=True)
class TorchCpu(Target):
    """PyTorch eager mode on CPU, fp32, under inference_mode, with a fixed thread count."""

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        model = model.eval()
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))

        def run() -> Any:
            prev = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                with torch.inference_mode():
                    return model(x)
            finally:
                torch.set_num_threads(prev)

        return run


@dataclass(frozen=True)
class TorchCuda(Target):
    """PyTorch eager mode on the first CUDA GPU, fp32; each run waits for the GPU to finish."""

    def unavailable(self) -> str | None:
        if not torch.cuda.is_available():
            return (
                f"it needs a CUDA GPU and torch {torch.__version__} sees none here "
                "(a CPU-only build or no NVIDIA driver). Use --target ort-cpu or torch-cpu, "
                "or run on a machine with a GPU and a CUDA build of torch."
            )
        return None

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch": torch.__version__, "cuda": str(torch.version.cuda)}
        if torch.cuda.is_available():
            v["gpu"] = torch.cuda.get_device_name(0)
        return v

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        model = model.eval().cuda()
        x = torch.randn(*shape, device="cuda")

        def run() -> Any:
            with torch.inference_mode():
                y = model(x)
            torch.cuda.synchronize()
            return y

        return run


TARGETS.register("torch-cpu", TorchCpu("torch-cpu", runtime="torch", device="cpu", precision="fp32"))
TARGETS.register("torch-cuda", TorchCuda("torch-cuda", runtime="torch", device="cuda", precision="fp32"))
