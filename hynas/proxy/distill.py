"""Knowledge distillation for the short-training proxy: a trained teacher guides the candidate.

Small networks trained briefly rank more faithfully when they learn from a teacher's soft
labels (Hinton et al. 2015; ClST's signal knowledge distillation for small models). The loss
is ``(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))``;
the T^2 factor keeps gradient scale independent of the temperature, as in Hinton et al.

A teacher comes from a ``state_dict`` checkpoint plus its Arch (read with
``torch.load(weights_only=True)``: tensors only, no code), or from a model file written by
``hynas export`` (its ``build()``), with the weights saved beside it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hynas.errors import UserError
from hynas.proxy.trainer import LossFn
from hynas.space.arch import Arch


def distillation_loss(teacher: nn.Module, *, temperature: float = 4.0, alpha: float = 0.5,
                      label_smoothing: float = 0.0) -> LossFn:
    """A ``loss_fn(logits, x, y)`` for ``train_proxy`` that mixes CE with the teacher's soft targets."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.log_softmax(teacher(x) / temperature, dim=1)
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
    model = load_generated(path.read_text(encoding="utf-8"), name=f"hynas_teacher_{path.stem}").build()
    model.load_state_dict(_state_dict(Path(weights) if weights else path.with_suffix(".pt")))
    return model.eval()
