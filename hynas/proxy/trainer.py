"""Deterministic short training: the proxy accuracy most searches use.

Same seed, same model, same data -> same accuracy (fixed thread count, seeded batch
order, deterministic algorithms), so a search can be re-run exactly and two candidates
are compared on equal terms. AdamW + cosine + label smoothing is the recipe that ranks
small networks best in a few hundred steps (EcoNAS, Zhou et al. 2020, reduce epochs,
resolution and width; we reduce steps and optionally resolution).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hynas.errors import CandidateError
from hynas.proxy.data import Dataset

Report = Callable[[int, float], bool]


@dataclass
class TrainResult:
    val_accuracy: float  # fraction in [0, 1] on the held-out split, at the last evaluation
    train_loss: float  # mean loss over the last 10% of steps
    steps: int  # steps actually run (fewer when pruned)
    seconds: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, val_accuracy)
    pruned: bool = False


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    optimizer: str = "adamw"  # or "sgd" (momentum 0.9, nesterov)
    label_smoothing: float = 0.1
    warmup_steps: int = 10
    eval_every: int | None = None  # default: 4 evaluations per run
    interim_eval_samples: int = 250  # intermediate (pruning) evaluations use this many held-out images; the last uses all
    resolution: int | None = None  # train and evaluate at a reduced resolution (bilinear resize)
    threads: int = 1
    seed: int = 0


@contextlib.contextmanager
def deterministic(seed: int, threads: int) -> Iterator[torch.Generator]:
    """Fix threads, seeds and deterministic kernels for the block; restore the caller's state after."""
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to zero; ``step`` counts from 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _resize(x: torch.Tensor, resolution: int | None) -> torch.Tensor:
    if resolution is None or resolution == x.shape[-1]:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500,
             resolution: int | None = None) -> float:
    """Top-1 accuracy (fraction) of ``model`` on tensors, in eval mode."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        logits = model(_resize(x[i:i + batch_size], resolution))
        correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, len(y))


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless seeded epochs of shuffled indices (the last short batch of an epoch dropped)."""
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i:i + batch_size]


LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train_proxy(model: nn.Module, data: Dataset, *, steps: int = 200, batch_size: int = 64, lr: float = 2e-3,
                seed: int = 0, report: Report | None = None, loss_fn: LossFn | None = None,
                config: TrainConfig | None = None) -> TrainResult:
    """Train ``model`` in place for ``steps`` and return its held-out accuracy.

    ``report(step, val_accuracy)`` is called at each intermediate evaluation; returning
    True stops training (the caller pruned it) and sets ``pruned``. ``loss_fn(logits, x, y)``
    replaces the default label-smoothed cross-entropy (knowledge distillation uses it).
    A non-finite loss raises ``CandidateError`` so the search records the failure and goes on.
    """
    cfg = config or TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    with deterministic(cfg.seed, cfg.threads) as gen:
        return _train(model, data, cfg, gen, report, loss_fn)


def _train(model: nn.Module, data: Dataset, cfg: TrainConfig, gen: torch.Generator, report: Report | None,
           loss_fn: LossFn | None) -> TrainResult:
    t0 = time.perf_counter()
    opt = _optimizer(model, cfg)
    base_lrs = [g["lr"] for g in opt.param_groups]
    eval_every = cfg.eval_every or max(1, cfg.steps // 4)
    batch_size = min(cfg.batch_size, len(data.train_y))
    history: list[tuple[int, float]] = []
    losses: list[float] = []
    model.train()
    step, pruned, acc = 0, False, 0.0
    for step, idx in enumerate(_batches(len(data.train_y), batch_size, gen), start=1):
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * lr_factor(step - 1, cfg.steps, cfg.warmup_steps)
        x, y = _resize(data.train_x[idx], cfg.resolution), data.train_y[idx]
        logits = model(x)
        loss = loss_fn(logits, x, y) if loss_fn else F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise CandidateError(f"NaN loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step % eval_every == 0 or step == cfg.steps:
            n = len(data.val_y) if step >= cfg.steps else min(len(data.val_y), cfg.interim_eval_samples)
            acc = evaluate(model, data.val_x[:n], data.val_y[:n], resolution=cfg.resolution)
            history.append((step, acc))
            if step < cfg.steps and report is not None and report(step, acc):
                pruned = True
                break
        if step >= cfg.steps:
            break
    tail = losses[-max(1, len(losses) // 10):]
    return TrainResult(val_accuracy=acc, train_loss=sum(tail) / len(tail), steps=step,
                       seconds=time.perf_counter() - t0, history=history, pruned=pruned)
