"""Knowledge distillation for the short-training proxy: a trained teacher guides the candidate.

Small networks trained briefly rank more faithfully when they learn from a teacher's soft
labels (Hinton et al. 2015; ClST's signal knowledge distillation for small models). The loss
is ``(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))``;
the T^2 factor keeps gradient scale independent of the temperature, as in Hinton et al.

A teacher comes from a ``state_dict`` checkpoint plus its Arch (read with
``torch.load(weights_only=True)``: tensors only, no code), or from a model file written by
``hynas export`` (its ``build()``), with the weights saved beside it. A recipe's ``teacher``
(``--teacher``) is such a model file, or a folder holding ``model.py`` + ``model.pt`` (a run
directory after ``hynas export --weights``); ``recipe_loss`` loads it once, checks that it
takes the data's images and predicts the data's classes, and builds the loss.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from hynas.errors import UserError
from hynas.space.arch import Arch

if TYPE_CHECKING:
    from hynas.proxy.device import Runtime
    from hynas.proxy.recipe import TrainRecipe

LossFn = Any  # Callable[[logits, x, y], loss], as hynas.proxy.trainer.LossFn


def distillation_loss(teacher: nn.Module, *, temperature: float = 4.0, alpha: float = 0.5,
                      label_smoothing: float = 0.0) -> LossFn:
    """A ``loss_fn(logits, x, y)`` for ``train_proxy`` that mixes CE with the teacher's soft targets."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.log_softmax(teacher(x).float() / temperature, dim=1)
        logits = logits.float()  # under autocast the logits may be bf16/fp16; the loss is taken in fp32
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean", log_target=True)
        ce = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return (1 - alpha) * ce + alpha * temperature ** 2 * kl

    return loss


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserError(f"teacher weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is the user's to fix
        raise UserError(f"cannot read teacher weights {path} as a tensors-only state_dict: {e}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state_dict")
    return state


def teacher_from_checkpoint(weights: str | Path, arch: Arch | str | Path) -> nn.Module:
    """Build ``arch`` (an Arch or a path to its JSON) and load the checkpoint's state_dict into it."""
    from hynas.build import build_model

    if not isinstance(arch, Arch):
        arch = Arch.from_json(Path(arch).read_text())
    model = build_model(arch)
    model.load_state_dict(_state_dict(Path(weights)))
    return model.eval()


def teacher_from_export(model_file: str | Path, weights: str | Path | None = None) -> nn.Module:
    """A network from a ``hynas export`` model file; weights default to the ``.pt`` beside it."""
    from hynas.export.codegen import load_generated

    path = Path(model_file)
    if not path.is_file():
        raise UserError(f"teacher model file not found: {path}")
    try:
        model = load_generated(path.read_text(encoding="utf-8"), name=f"hynas_teacher_{path.stem}").build()
    except Exception as e:  # noqa: BLE001 - a model file that does not build is the user's to fix
        raise UserError(f"teacher {path}: not a model file written by `hynas export` ({type(e).__name__}: {e})") from None
    try:
        model.load_state_dict(_state_dict(Path(weights) if weights else path.with_suffix(".pt")))
    except RuntimeError as e:
        raise UserError(f"teacher {path}: its weights do not fit its model ({str(e).splitlines()[0]})") from None
    return model.eval()


def teacher_model_file(teacher: str) -> Path:
    p = Path(teacher)
    return p / "model.py" if p.is_dir() else p


@functools.lru_cache(maxsize=2)
def _cached_teacher(path: str, mtime_ns: int) -> nn.Module:
    return teacher_from_export(path)


def load_teacher(recipe: TrainRecipe, data: Any, size: int) -> nn.Module:
    """The recipe's teacher, checked on one held-out batch: it must accept the images and give ``data.classes`` logits."""
    path = teacher_model_file(recipe.teacher or "")
    if not path.is_file():
        raise UserError(f"--teacher {recipe.teacher}: no such model file (give an exported model.py with its "
                        "model.pt beside it, or a folder holding both).")
    teacher = _cached_teacher(str(path), path.stat().st_mtime_ns)
    x, _ = next(iter(data.eval_batches(size, limit=2)))
    try:
        with torch.no_grad():
            out = teacher.cpu()(x)
    except Exception as e:  # noqa: BLE001 - any refusal of the input is a mismatch to report
        raise UserError(f"--teacher {path}: it does not accept {data.name}'s images ({tuple(x.shape[1:])} C,H,W): "
                        f"{type(e).__name__}: {e}") from None
    if out.ndim != 2 or out.shape[1] != data.classes:
        raise UserError(f"--teacher {path}: it predicts {out.shape[-1]} classes, {data.name} has {data.classes}.")
    return teacher


def recipe_loss(recipe: TrainRecipe, data: Any, rt: Runtime, size: int) -> LossFn:
    """SKD-style distillation from the recipe's teacher, on the recipe's device."""
    teacher = load_teacher(recipe, data, size).to(rt.device)
    if rt.cuda:
        teacher = teacher.to(memory_format=torch.channels_last)
    return distillation_loss(teacher, temperature=recipe.distill_temperature, alpha=recipe.distill_weight,
                             label_smoothing=recipe.label_smoothing)
