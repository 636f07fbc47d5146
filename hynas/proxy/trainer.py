"""Short training: the proxy accuracy most searches use, run as the user's ``TrainRecipe`` says.

Same seed, same model, same data, same recipe -> same accuracy on CPU (fixed thread count,
seeded batch order and augmentation, deterministic algorithms), so a search can be re-run
exactly and two candidates are compared on equal terms. On CUDA the seed fixes the same
inputs, kernels are left fast (see ``hynas.proxy.device``). The default recipe is AdamW +
warm-up + cosine + label smoothing, which ranks small networks well in a few hundred steps
(EcoNAS, Zhou et al. 2020, reduce epochs, resolution and width; we reduce steps and
optionally resolution with ``proxy_resolution``).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from hynas.errors import CandidateError, UserError
from hynas.proxy.device import Runtime, check_runtime
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.schedules import SCHEDULES
from hynas.proxy.tasks import Task, task_of

Report = Callable[[int, float], bool]
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
TrainConfig = TrainRecipe  # the recipe's former name


@dataclass
class TrainResult:
    val_accuracy: float  # fraction in [0, 1] on the held-out split, at the last evaluation
    train_loss: float  # mean loss over the last 10% of steps
    steps: int  # steps actually run (fewer when pruned)
    seconds: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, val_accuracy)
    pruned: bool = False
    resolution: int = 0  # the size trained and evaluated at
    images_per_s: float = 0.0  # training images per second, evaluations excluded
    scores: dict[str, float] = field(default_factory=dict)  # every figure of the task's last evaluation (AUC, log loss)


@contextlib.contextmanager
def deterministic(seed: int, threads: int, *, cuda: bool = False) -> Iterator[torch.Generator]:
    """Fix threads and seeds for the block (and deterministic kernels on CPU); restore the caller's state after."""
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(not cuda, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def lr_factor(step: int, total: int, warmup: int, schedule: str = "cosine") -> float:
    """Linear warm-up, then the schedule's factor; ``step`` counts from 0."""
    if step < warmup:
        return (step + 1) / warmup
    return SCHEDULES.get(schedule)(min(1.0, (step - warmup) / max(1, total - warmup)))


def _optimizer(model: nn.Module, cfg: TrainRecipe) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _autocast(rt: Runtime) -> Any:
    return torch.autocast(rt.device.type, dtype=rt.dtype) if rt.dtype is not None else contextlib.nullcontext()


def _to(x: torch.Tensor, y: torch.Tensor, rt: Runtime) -> tuple[torch.Tensor, torch.Tensor]:
    if not rt.cuda:
        return x, y
    fmt = torch.channels_last if x.ndim == 4 else torch.contiguous_format  # signals (N, C, L) have no NHWC
    return x.to(rt.device, non_blocking=True, memory_format=fmt), y.to(rt.device, non_blocking=True)


def _accuracy(model: nn.Module, batches: Any, rt: Runtime, task: Task | None = None,
              keep: dict[str, float] | None = None) -> float:
    """The held-out score: top-1 accuracy, or the score of the dataset's task (its first figure; ``keep``
    receives all of them)."""
    if task is not None and task.name != "classify":
        figures = task_scores(model, batches, rt, task)
        if keep is not None:
            keep.clear()
            keep.update(figures)
        return next(iter(figures.values()))
    was_training = model.training
    model.eval()
    correct, seen = torch.zeros((), dtype=torch.int64, device=rt.device), 0
    with torch.inference_mode(), _autocast(rt):
        for x, y in batches:
            x, y = _to(x, y, rt)
            correct += (model(x).argmax(1) == y).sum()
            seen += len(y)
    model.train(was_training)
    return int(correct) / max(1, seen)


def task_scores(model: nn.Module, batches: Any, rt: Runtime, task: Task) -> dict[str, float]:
    """Every figure the task reports on held-out batches (e.g. AUC and log loss), in eval mode."""
    was_training = model.training
    model.eval()
    with torch.inference_mode(), _autocast(rt):
        pairs = [(model(x), y) for x, y in (_to(x, y, rt) for x, y in batches)]
    model.train(was_training)
    return task.score(pairs)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500,
             resolution: int | None = None) -> float:
    """Top-1 accuracy (fraction) of ``model`` on tensors, in eval mode, on the model's device."""
    from hynas.proxy.augment import resize_center

    dev = next(model.parameters()).device
    rt = Runtime(dev, None, False)
    size = resolution or x.shape[-1]
    batches = ((resize_center(x[i:i + batch_size], size), y[i:i + batch_size]) for i in range(0, len(y), batch_size))
    return _accuracy(model, batches, rt)


def recipe_of(recipe: TrainRecipe | None, **legacy: Any) -> TrainRecipe:
    """The recipe with the keyword overrides of the older call style (steps=, batch_size=, lr=, seed=)."""
    r = recipe or TrainRecipe()
    given = {k: v for k, v in legacy.items() if v is not None}
    if "steps" in given:
        given["epochs"] = None
    return replace(r, **given) if given else r


def train_proxy(model: nn.Module, data: Any, *, steps: int | None = None, batch_size: int | None = None,
                lr: float | None = None, seed: int | None = None, report: Report | None = None,
                loss_fn: LossFn | None = None, config: TrainRecipe | None = None,
                recipe: TrainRecipe | None = None) -> TrainResult:
    """Train ``model`` in place as ``recipe`` says and return its held-out accuracy.

    ``report(step, val_accuracy)`` is called at each intermediate evaluation; returning
    True stops training (the caller pruned it) and sets ``pruned``. ``loss_fn(logits, x, y)``
    replaces the default label-smoothed cross-entropy; a recipe with a ``teacher`` distils
    from it. A non-finite loss or running out of GPU memory raises ``CandidateError`` so the
    search records the failure and goes on. The model is left on the recipe's device.
    """
    r = recipe_of(recipe or config, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    rt = check_runtime(r)
    size = r.train_size(data.resolution)
    if size is None:
        raise UserError(f"{data.name}: its images differ in size; give a resolution to train at.")
    if loss_fn is None and r.teacher:
        from hynas.proxy.distill import recipe_loss

        loss_fn = recipe_loss(r, data, rt, size)
    with deterministic(r.seed, r.cpu_threads(), cuda=rt.cuda) as gen:
        try:
            return _train(model, data, r, rt, size, gen, report, loss_fn)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            first = str(e).strip().splitlines()[0][:200]
            raise CandidateError(f"out of GPU memory on {rt.device} at batch {r.batch_size}, {size} px, "
                                 f"precision {r.precision}: {first}") from None


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, r: TrainRecipe, rt: Runtime,
          opt: torch.optim.Optimizer, scaler: Any, loss_fn: LossFn | None, task: Task) -> torch.Tensor:
    """One optimizer step; returns the (detached) loss, still on the device (no sync)."""
    with _autocast(rt):
        logits = model(x)
        loss = loss_fn(logits, x, y) if loss_fn else task.loss(logits, y, r.label_smoothing)
    if not rt.cuda and not torch.isfinite(loss):  # on CUDA checked every few steps, without a sync per step
        raise CandidateError("NaN loss")
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return loss.detach()


def _train(model: nn.Module, data: Any, r: TrainRecipe, rt: Runtime, size: int, gen: torch.Generator,
           report: Report | None, loss_fn: LossFn | None) -> TrainResult:
    t0 = time.perf_counter()
    task = task_of(data)
    total = r.total_steps(data.train_size(r))
    if rt.cuda:
        model.to(rt.device, memory_format=torch.channels_last)
    opt = _optimizer(model, r)
    base_lrs = [g["lr"] for g in opt.param_groups]
    scaler = torch.amp.GradScaler("cuda") if rt.scaler else None
    eval_every = r.eval_every or max(1, total // 4)
    batches = data.train_batches(r, size, gen, pin=rt.cuda)
    tail: deque[torch.Tensor] = deque(maxlen=max(1, total // 10))
    history: list[tuple[int, float]] = []
    step, pruned, acc, eval_s = 0, False, 0.0, 0.0
    figures: dict[str, float] = {}
    model.train()
    for step in range(1, total + 1):
        x, y = _to(*next(batches), rt)
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * lr_factor(step - 1, total, r.warmup_steps, r.schedule)
        try:
            tail.append(_step(model, x, y, r, rt, opt, scaler, loss_fn, task))
        except CandidateError:
            raise CandidateError(f"NaN loss at step {step}") from None
        if rt.cuda and step % 25 == 0:
            _check_finite(tail, step)
        if step % eval_every == 0 or step == total:
            te = time.perf_counter()
            limit = None if step >= total else r.interim_eval_samples
            acc = _accuracy(model, data.eval_batches(size, limit, recipe=r, pin=rt.cuda), rt, task, figures)
            eval_s += time.perf_counter() - te
            history.append((step, acc))
            if step < total and report is not None and report(step, acc):
                pruned = True
                break
    _check_finite(tail, step)
    losses = [float(t) for t in list(tail)[-max(1, step // 10):]]
    seconds = time.perf_counter() - t0
    return TrainResult(val_accuracy=acc, train_loss=sum(losses) / len(losses), steps=step, seconds=seconds,
                       history=history, pruned=pruned, resolution=size,
                       images_per_s=step * r.batch_size / max(1e-9, seconds - eval_s), scores=dict(figures))


def _check_finite(tail: deque[torch.Tensor], step: int) -> None:
    """CUDA path: one sync every 25 steps over the recent losses (a NaN stays NaN: it poisons the weights)."""
    if tail and not bool(torch.isfinite(torch.stack(list(tail))).all()):
        raise CandidateError(f"NaN loss by step {step}")
