"""``TrainRecipe``: everything that decides how a candidate is trained, validated and hashable.

One frozen dataclass, set from flags or a YAML file (``TrainRecipe.from_yaml``), written to
run.json (``to_dict``) and read back (``from_dict``). ``fingerprint`` is a stable hash of the
fields (and of the teacher file's bytes), so a resumed search can refuse a changed recipe.
Every bad value is one ``UserError`` naming the file (or flag), the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from hynas.errors import SpecError, UserError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "linear", "step", "constant")
AUGMENTS = ("none", "light", "standard")
PRECISIONS = ("auto", "off", "bf16", "fp16")
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d{1,2})$")


@dataclass(frozen=True)
class TrainRecipe:
    steps: int | None = 200  # optimizer steps; or None with ``epochs``
    epochs: float | None = None  # passes over the (subset) training split, instead of steps
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adamw"  # adamw | sgd (momentum 0.9, nesterov)
    weight_decay: float = 0.05  # on weights with 2+ dims; norms and biases get none
    warmup_steps: int = 10
    schedule: str = "cosine"  # after the linear warm-up: cosine | linear | step (x0.1 at 50%, 75%) | constant
    label_smoothing: float = 0.1
    augment: str = "none"  # none | light (flip + pad-crop) | standard (random-resized-crop, flip, colour jitter)
    resolution: int | None = None  # the input size the candidate is built, timed and exported at; None: the data's
    proxy_resolution: int | None = None  # train/evaluate at this smaller size instead (EcoNAS-style)
    precision: str = "auto"  # auto (bf16, else fp16, on CUDA; off on CPU) | off | bf16 | fp16
    threads: int = 0  # CPU threads for the candidate; 0 = HYNAS_THREADS, else every core of its CPU affinity
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    train_samples: int | None = None  # a balanced subset: at most this many training images per class
    teacher: str | None = None  # an exported model.py (weights: the .pt beside it) to distil from
    distill_temperature: float = 4.0
    distill_weight: float = 0.5  # alpha: the KL term's weight, (1 - alpha) for cross-entropy
    eval_every: int | None = None  # default: 4 evaluations per run
    interim_eval_samples: int = 250  # intermediate (pruning) evaluations use this many held-out images
    loader_workers: int | None = None  # DataLoader worker processes for streamed data; None: min(4, cores)
    stream_above_mb: int = 512  # an ImageFolder whose float32 training tensors exceed this many MiB streams from disk

    def __post_init__(self) -> None:
        for f in fields(self):
            _CHECKS[f.name](self, f.name, getattr(self, f.name))
        if (self.steps is None) == (self.epochs is None):
            _fail("steps", "give exactly one of steps and epochs.", None)
        if self.proxy_resolution and self.resolution and self.proxy_resolution > self.resolution:
            _fail("proxy_resolution", f"{self.proxy_resolution} is larger than resolution {self.resolution}.",
                  f"at most {self.resolution}")

    # ------------------------------------------------------------------ construction and records

    @classmethod
    def from_dict(cls, raw: Any, *, source: str | None = None, flags: bool = False) -> TrainRecipe:
        """A recipe from a mapping; unknown fields refused. ``source`` names the file in errors;
        ``flags`` names fields as command-line flags (``--batch-size``)."""
        try:
            if not isinstance(raw, Mapping):
                raise SpecError("a recipe must be a mapping of field: value.", allowed=_names())
            unknown = sorted(set(map(str, raw)) - set(_names()))
            if unknown:
                raise SpecError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}.",
                                path=unknown[0], allowed=_names())
            values = dict(raw)
            if "epochs" in values and values["epochs"] is not None and "steps" not in values:
                values["steps"] = None
            return cls(**values)
        except SpecError as e:
            if flags:
                field = {"steps": "train_steps"}.get(e.path, e.path)  # the CLI flag is --train-steps
                flag = "--" + (field or "recipe").replace("_", "-")
                allowed = f" Allowed: {e.allowed}." if isinstance(e.allowed, str) else (
                    f" Allowed: {', '.join(map(str, e.allowed))}." if e.allowed else "")
                raise UserError(f"{flag}: {e.detail}{allowed}") from None
            raise e.located(source) if source else e from None

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainRecipe:
        """A recipe file (YAML mapping), then ``overrides`` (flags the user gave) on top."""
        from hynas.space.yamlio import read_yaml

        raw, _ = read_yaml(path)
        base = cls.from_dict(raw if raw is not None else {}, source=str(path))
        return base.updated(**overrides) if overrides else base

    def updated(self, **changes: Any) -> TrainRecipe:
        """This recipe with some fields changed, validated like flags."""
        unknown = sorted(set(changes) - set(_names()))
        if unknown:
            raise UserError(f"unknown recipe field {unknown[0]}. Allowed: {', '.join(_names())}.")
        if changes.get("epochs") is not None and "steps" not in changes:
            changes["steps"] = None
        if changes.get("steps") is not None and "epochs" not in changes:
            changes["epochs"] = None
        return TrainRecipe.from_dict({**self.to_dict(), **changes}, flags=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A stable hash of every field (and the teacher's bytes): equal recipes train alike."""
        payload = json.dumps(self.to_dict(), sort_keys=True)
        h = hashlib.sha256(payload.encode())
        for path in self.teacher_files():
            if path.is_file():
                h.update(path.read_bytes())
        return h.hexdigest()[:16]

    def teacher_files(self) -> list[Path]:
        if not self.teacher:
            return []
        p = Path(self.teacher)
        return [p, p.with_suffix(".pt")]

    # ------------------------------------------------------------------ derived values

    def total_steps(self, train_size: int) -> int:
        """Steps to run: ``steps``, or ``epochs`` passes of full batches over ``train_size`` images."""
        if self.steps is not None:
            return self.steps
        per_epoch = max(1, train_size // min(self.batch_size, max(1, train_size)))
        return max(1, math.ceil(self.epochs * per_epoch))  # type: ignore[operator]

    def train_size(self, native: int | None) -> int | None:
        """The resolution training and evaluation run at (proxy, else recipe, else the data's)."""
        return self.proxy_resolution or self.resolution or native

    def model_size(self, native: int | None) -> int | None:
        """The resolution the candidate is built, timed and exported at."""
        return self.resolution or native

    def cpu_threads(self) -> int:
        return self.threads or default_threads()

    def with_seed(self, seed: int) -> TrainRecipe:
        return replace(self, seed=seed)


def default_threads() -> int:
    """``HYNAS_THREADS`` when set, else every core this process may run on (its CPU affinity)."""
    env = os.environ.get("HYNAS_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------- validation table

def _names() -> list[str]:
    return [f.name for f in fields(TrainRecipe)]


def _fail(name: str, message: str, allowed: Any) -> None:
    raise SpecError(message, path=name, allowed=allowed)


def _int(lo: int, hi: int, optional: bool = False) -> Callable[[Any, str, Any], None]:
    def check(_: Any, name: str, v: Any) -> None:
        if v is None and optional:
            return
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            _fail(name, f"{v!r} is not an integer in range.", f"an integer from {lo} to {hi}"
                  + (", or null" if optional else ""))
    return check


def _num(lo: float, hi: float, *, lo_open: bool = False, optional: bool = False) -> Callable[[Any, str, Any], None]:
    def check(_: Any, name: str, v: Any) -> None:
        if v is None and optional:
            return
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        if not ok or not ((lo < v) if lo_open else (lo <= v)) or v > hi:
            _fail(name, f"{v!r} is out of range.", f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}"
                  + (", or null" if optional else ""))
    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any, str, Any], None]:
    def check(_: Any, name: str, v: Any) -> None:
        if v not in options:
            _fail(name, f"{v!r} is not a known {name}.", options)
    return check


def _device(_: Any, name: str, v: Any) -> None:
    if not isinstance(v, str) or not _DEVICE.match(v):
        _fail(name, f"{v!r} is not a device.", "auto, cpu, cuda, cuda:N")


def _path(_: Any, name: str, v: Any) -> None:
    if v is not None and (not isinstance(v, str) or not v.strip()):
        _fail(name, f"{v!r} is not a file path.", "a path to an exported model.py, or null")


_CHECKS: dict[str, Callable[[Any, str, Any], None]] = {
    "steps": _int(1, 10_000_000, optional=True), "epochs": _num(0, 100_000, lo_open=True, optional=True),
    "batch_size": _int(1, 65_536), "lr": _num(0, 10, lo_open=True), "optimizer": _choice(OPTIMIZERS),
    "weight_decay": _num(0, 10), "warmup_steps": _int(0, 10_000_000), "schedule": _choice(SCHEDULES),
    "label_smoothing": _num(0, 0.99), "augment": _choice(AUGMENTS), "resolution": _int(8, 2048, optional=True),
    "proxy_resolution": _int(8, 2048, optional=True), "precision": _choice(PRECISIONS),
    "threads": _int(0, 1024), "device": _device, "seed": _int(0, 2**31 - 1),
    "train_samples": _int(1, 100_000_000, optional=True), "teacher": _path,
    "distill_temperature": _num(0, 100, lo_open=True), "distill_weight": _num(0, 1),
    "eval_every": _int(1, 10_000_000, optional=True), "interim_eval_samples": _int(1, 100_000_000),
    "loader_workers": _int(0, 64, optional=True), "stream_above_mb": _int(0, 10_000_000),
}


def recipe_from_options(path: str | None, *, default_steps: int | None = None, **flags: Any) -> TrainRecipe:
    """The recipe of a command line: ``--recipe FILE`` (if any), then every flag that was given (not None).

    ``default_steps`` applies when neither the file nor a flag says steps or epochs. A distillation
    flag without a teacher is refused: it would change the recipe's hash and nothing else."""
    given = {k: v for k, v in flags.items() if v is not None}
    rec = _from_options(path, default_steps, given)
    loose = [k for k in ("distill_temperature", "distill_weight") if k in given]
    if loose and not rec.teacher:
        raise UserError(f"--{loose[0].replace('_', '-')} sets how a teacher is distilled, and no --teacher (or "
                        "recipe 'teacher') was given. Allowed: with --teacher FILE, or drop it.")
    return rec


def _from_options(path: str | None, default_steps: int | None, given: dict[str, Any]) -> TrainRecipe:
    if path:
        from hynas.space.yamlio import read_yaml

        raw, _ = read_yaml(path)
        says_length = isinstance(raw, Mapping) and ("steps" in raw or "epochs" in raw)
        if default_steps and not says_length and "steps" not in given and "epochs" not in given:
            given["steps"] = default_steps
        return TrainRecipe.from_yaml(path, **given)
    if default_steps and "steps" not in given and "epochs" not in given:
        given["steps"] = default_steps
    return TrainRecipe().updated(**given) if given else TrainRecipe()


def describe(recipe: TrainRecipe, native: int | None, runtime: str = "", smoothed: bool = True) -> str:
    """One line a person can check before a search starts: what trains how, at which size, where.

    ``smoothed``: whether the task's loss uses label smoothing (a binary or separation task's
    does not, so the line does not claim it)."""
    r = recipe
    length = f"{r.steps} steps" if r.steps is not None else f"{r.epochs:g} epochs"
    model = r.model_size(native)
    train = r.train_size(native)
    origin = "the data's" if r.resolution is None else "--resolution"
    parts = [length, f"batch {r.batch_size}", f"{r.optimizer} lr {r.lr:g} wd {r.weight_decay:g}",
             f"{r.schedule} after {r.warmup_steps} warm-up",
             *([f"label smoothing {r.label_smoothing:g}"] if smoothed else []), f"augment {r.augment}",
             f"trains at {train} px" + (" (proxy)" if r.proxy_resolution else ""),
             f"candidates built, timed and exported at {model} px ({origin})"]
    if r.train_samples:
        parts.append(f"{r.train_samples} images per class")
    if r.loader_workers is not None:
        parts.append(f"{r.loader_workers} loader workers for streamed data")
    if r.teacher:
        parts.append(f"distilled from {r.teacher} (T {r.distill_temperature:g}, weight {r.distill_weight:g})")
    if runtime:
        parts.append(runtime)
    return "recipe: " + ", ".join(parts) + f"; hash {r.fingerprint()}"
