"""What a dataset asks the network to do: its training loss and its held-out score.

A dataset names its task (``Dataset.task``, ``classify`` when it says nothing); the trainer
looks the task up here, trains with its ``loss`` and reports its ``score`` as the candidate's
accuracy objective (always higher-is-better, so every sampler and plot works unchanged) with
the score's name (``metric``) beside it. Tasks:

- ``classify``: label-smoothed cross-entropy; top-1 accuracy.
- ``binary``: click / no-click (two logits); plain cross-entropy; ROC AUC of the positive
  class's probability (ties counted half, the Mann-Whitney form), with the log loss kept beside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hynas.registry import Registry

Loss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


@dataclass(frozen=True)
class Task:
    name: str
    metric: str  # what the score is, for lines and plot axes
    loss: Loss  # (logits, targets, label_smoothing) -> scalar
    score: Callable[[Iterable[tuple[torch.Tensor, torch.Tensor]]], dict[str, float]]  # first key = the score


TASKS: Registry[Task] = Registry("task")


def _classify_loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)


def _top1(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    correct, seen = 0, 0
    for logits, y in pairs:
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {"accuracy": correct / max(1, seen)}


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties half)."""
    labels = labels.to(torch.int64)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(scores.double())
    _, inverse, counts = torch.unique_consecutive(scores.double()[order], return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    ranks = ((ends - counts.double() + 1 + ends) / 2)[inverse]  # 1-based ranks, ties averaged
    pos_ranks = ranks[labels[order] == 1].sum().item()
    return (pos_ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _auc(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    logits = []
    ys = []
    for lg, y in pairs:
        logits.append(lg.float().cpu())
        ys.append(y.cpu())
    lg, y = torch.cat(logits), torch.cat(ys)
    logloss = float(F.cross_entropy(lg, y))
    return {"auc": roc_auc(torch.softmax(lg, 1)[:, 1], y), "logloss": logloss}


TASKS.register("classify", Task("classify", "accuracy", _classify_loss, _top1))
TASKS.register("binary", Task("binary", "auc", lambda lg, y, s: F.cross_entropy(lg.float(), y), _auc))


def task_of(data: object) -> Task:
    """The task a dataset declares (``classify`` for any dataset that does not say)."""
    return TASKS.get(getattr(data, "task", "classify"))
