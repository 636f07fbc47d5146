"""Devices and precision: CUDA where there is one (else its refusal), bf16 on CPU, OOM as a failed candidate."""

from __future__ import annotations

import pytest
import torch

from hynas.errors import CandidateError, UserError
from hynas.proxy.data import Dataset, load_dataset
from hynas.proxy.device import check_runtime
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.trainer import train_proxy


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def tiny(classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, classes))


def test_cuda_trains_where_there_is_a_gpu_else_is_refused(digits: Dataset) -> None:
    recipe = TrainRecipe(steps=30, batch_size=32, device="cuda", seed=1)
    if not torch.cuda.is_available():
        with pytest.raises(UserError) as e:
            train_proxy(tiny(), digits, recipe=recipe)
        assert "--device cuda: no CUDA GPU is available" in str(e.value) and "Allowed here: auto, cpu" in str(e.value)
        with pytest.raises(UserError, match="no CUDA GPU"):
            check_runtime(TrainRecipe(device="cuda:1"))
        assert check_runtime(TrainRecipe(device="auto")).device.type == "cpu"
        return
    rt = check_runtime(recipe)
    assert rt.cuda and rt.dtype in (torch.bfloat16, torch.float16)
    net = tiny()
    res = train_proxy(net, digits, recipe=recipe)
    assert next(net.parameters()).device.type == "cuda" and res.val_accuracy > 0.2
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    again = train_proxy(tiny(), digits, recipe=recipe)
    assert abs(again.val_accuracy - res.val_accuracy) < 0.05  # seeded; kernels may differ in the last bits


def test_precision_on_cpu(digits: Dataset) -> None:
    with pytest.raises(UserError, match="--precision fp16 needs a CUDA device"):
        check_runtime(TrainRecipe(device="cpu", precision="fp16"))
    assert check_runtime(TrainRecipe(device="cpu")).dtype is None  # auto = fp32 on CPU
    res = train_proxy(tiny(), digits, recipe=TrainRecipe(steps=20, batch_size=32, device="cpu", precision="bf16"))
    assert res.steps == 20 and 0.0 <= res.val_accuracy <= 1.0 and res.images_per_s > 0


class _OutOfMemory(torch.nn.Module):
    """A candidate whose forward pass runs out of GPU memory, as a too-large one does on a real GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_is_a_failed_candidate(digits: Dataset) -> None:
    with pytest.raises(CandidateError, match=r"out of GPU memory .* batch 16, 32 px.*Tried to allocate 20\.00 GiB"):
        train_proxy(_OutOfMemory(), digits, recipe=TrainRecipe(steps=2, batch_size=16))


def test_epochs_and_schedules(digits: Dataset) -> None:
    from hynas.proxy.trainer import lr_factor

    r = TrainRecipe(epochs=0.25, steps=None, batch_size=100, train_samples=40, schedule="step", eval_every=1000)
    res = train_proxy(tiny(), digits, recipe=r)
    assert res.steps == 1 and [s for s, _ in res.history] == [1]  # 400 images / 100 per batch * 0.25 epochs
    assert [lr_factor(s, 100, 0, "step") for s in (0, 60, 90)] == [1.0, 0.1, 0.01]
    assert lr_factor(99, 100, 0, "linear") == pytest.approx(0.01) and lr_factor(50, 100, 10, "constant") == 1.0
