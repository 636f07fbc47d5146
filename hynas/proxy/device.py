"""Where and in what precision a candidate trains: ``device`` and ``precision`` of a ``TrainRecipe``.

``auto`` picks the first CUDA GPU when torch sees one, else the CPU. On CUDA, ``precision
auto`` is bf16 autocast where the GPU supports it, else fp16 autocast with a gradient
scaler; on CPU it is off (fp32). ``check_runtime`` refuses, before a search writes
anything, a device or precision this machine cannot give, naming what it can.

Determinism: on CPU the trainer enables ``torch.use_deterministic_algorithms`` with a fixed
thread count, so a seed reproduces an accuracy exactly. On CUDA the seed fixes the weights,
the batch order and every augmentation, but kernels are left free to be fast (cuDNN
autotuning, atomic-add backward passes): two runs of one seed can differ in the last bits
and so, after training, by about the seed-to-seed noise of accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from hynas.errors import UserError

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None = fp32
    scaler: bool  # fp16 needs a GradScaler

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.cuda else "cpu"
        prec = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        return f"{self.device} ({name}), {prec}"


def _no_gpu(asked: str) -> UserError:
    built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return UserError(f"--device {asked}: no CUDA GPU is available to this process (torch {torch.__version__}, "
                     f"{built}; torch.cuda.is_available() is False). Allowed here: auto, cpu.")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise _no_gpu(name)
    dev = torch.device(name)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise UserError(f"--device {name}: this machine has {count} CUDA GPU(s). Allowed: cuda:0 to cuda:{count - 1}.")
    return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    cuda = device.type == "cuda"
    if precision == "off" or (precision == "auto" and not cuda):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and not cuda:
        raise UserError("--precision fp16 needs a CUDA device (CPU autocast is bf16). Allowed on CPU: off, bf16, auto.")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise UserError(f"--precision bf16: {torch.cuda.get_device_name(device)} does not support bf16. "
                        "Allowed: fp16, off, auto.")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def check_runtime(recipe: TrainRecipe) -> Runtime:
    """The device and precision the recipe asks for, or a ``UserError`` naming what this machine allows."""
    dev = resolve_device(recipe.device)
    dtype = autocast_dtype(recipe.precision, dev)
    return Runtime(dev, dtype, scaler=dtype is torch.float16)
