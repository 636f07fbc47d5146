"""What a dataset asks the network to do: its training loss and its held-out score.

A dataset names its task (``Dataset.task``, ``classify`` when it says nothing); the trainer
looks the task up here, trains with its ``loss`` and reports its ``score`` as the candidate's
accuracy objective (always higher-is-better, so every sampler and plot works unchanged) with
the score's name (``metric``) beside it. Tasks:

- ``classify``: label-smoothed cross-entropy; top-1 accuracy.
- ``binary``: click / no-click (two logits); plain cross-entropy; ROC AUC of the positive
  class's probability (ties counted half, the Mann-Whitney form), with the log loss kept beside.
- ``segment``: a class per pixel (or frame, or voxel): logits (N, K, ...) against masks (N, ...);
  per-position cross-entropy; mean IoU over the classes present in the masks or the predictions
  (the PASCAL VOC / Cityscapes convention), with mean Dice and pixel accuracy beside.
- ``separate``: waveforms out (N, sources, L) against the clean sources; loss = minus the
  permutation-invariant SI-SNR (Le Roux et al. 2019; PIT, Yu et al. 2017); score = the mean
  SI-SNR improvement in dB over the mixture (the sum of the sources), higher is better.
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
    smoothed: bool = True  # whether the loss applies the recipe's label smoothing


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


def confusion(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """classes x classes counts: row = true class, column = predicted."""
    idx = target.reshape(-1).to(torch.int64) * classes + pred.reshape(-1).to(torch.int64)
    return torch.bincount(idx, minlength=classes * classes).reshape(classes, classes)


def overlap_scores(conf: torch.Tensor) -> dict[str, float]:
    """Mean IoU and Dice over the classes that occur (in truth or prediction), and pixel accuracy."""
    conf = conf.double()
    tp = conf.diag()
    fp, fn = conf.sum(0) - tp, conf.sum(1) - tp
    seen = (tp + fp + fn) > 0
    iou = tp[seen] / (tp + fp + fn)[seen]
    dice = 2 * tp[seen] / (2 * tp + fp + fn)[seen]
    return {"miou": float(iou.mean()), "dice": float(dice.mean()), "pixel_accuracy": float(tp.sum() / conf.sum())}


def _segment_loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)


def _miou(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    conf = None
    for logits, y in pairs:
        c = confusion(logits.argmax(1).cpu(), y.cpu(), logits.shape[1])
        conf = c if conf is None else conf + c
    return overlap_scores(conf) if conf is not None else {"miou": 0.0}


def si_snr_t(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR in dB over the last axis (both zero-meaned first), differentiable."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) * ref / ((ref * ref).sum(-1, keepdim=True) + eps)
    noise = est - target
    return 10 * torch.log10(((target * target).sum(-1) + eps) / ((noise * noise).sum(-1) + eps))


def _pit_si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(N,) mean SI-SNR per example under the best assignment of estimates to sources."""
    import itertools

    n_src = ref.shape[1]
    best = None
    for perm in itertools.permutations(range(n_src)):
        s = si_snr_t(est[:, list(perm)], ref).mean(1)
        best = s if best is None else torch.maximum(best, s)
    return best


def _separate_loss(est: torch.Tensor, ref: torch.Tensor, smoothing: float) -> torch.Tensor:
    return -_pit_si_snr(est.float(), ref.float()).mean()


def _si_snri(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    gains, scores = [], []
    for est, ref in pairs:
        est, ref = est.float().cpu(), ref.float().cpu()
        mix = ref.sum(1, keepdim=True).expand_as(ref)
        pit = _pit_si_snr(est, ref)
        gains.append(pit - si_snr_t(mix, ref).mean(1))
        scores.append(pit)
    return {"si_snri_db": float(torch.cat(gains).mean()), "si_snr_db": float(torch.cat(scores).mean())}


TASKS.register("classify", Task("classify", "accuracy", _classify_loss, _top1))
TASKS.register("separate", Task("separate", "SI-SNRi (dB)", _separate_loss, _si_snri, smoothed=False))
TASKS.register("segment", Task("segment", "mIoU", _segment_loss, _miou))
TASKS.register("binary", Task("binary", "AUC", lambda lg, y, s: F.cross_entropy(lg.float(), y), _auc,
                                smoothed=False))


def task_of(data: object) -> Task:
    """The task a dataset declares (``classify`` for any dataset that does not say)."""
    return TASKS.get(getattr(data, "task", "classify"))
