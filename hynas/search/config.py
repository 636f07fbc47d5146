"""Everything that defines a search, saved to ``run.json`` so the run can be re-run exactly."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from hynas.errors import UserError

# shape_sensitivity, accuracy_int8: measured on the trained candidate after its proxy training
# (hynas.proxy.shape, hynas.proxy.int8)
OBJECTIVES = {"accuracy": "maximize", "latency_ms": "minimize", "params_m": "minimize", "macs_g": "minimize",
              "shape_sensitivity": "maximize", "accuracy_int8": "maximize"}
CONSTRAINT_METRICS = ("accuracy", "latency_ms", "params_m", "macs_g", "shape_sensitivity", "accuracy_int8")
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|<|>)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (or >=, <, >): feasible when :meth:`violation` <= 0, as Optuna expects.

    Strict and non-strict comparisons are the same on measured floats; the violation is the
    signed distance to the bound in the metric's own unit, so "how infeasible" is comparable.
    """

    metric: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, values: dict[str, float]) -> float:
        v = float(values[self.metric])
        return v - self.bound if self.op in ("<=", "<") else self.bound - v


def parse_constraint(text: str) -> Constraint:
    """``NAME (<=|>=|<|>) NUMBER`` with NAME one of CONSTRAINT_METRICS; no eval, a clear error otherwise."""
    m = _CONSTRAINT.match(text or "")
    if not m:
        raise UserError(f"--constraint '{text}' is not of the form NAME<=NUMBER (or >=, <, >), e.g. 'latency_ms<=5'. "
                        f"Allowed names: {', '.join(CONSTRAINT_METRICS)}.")
    name, op, num = m.groups()
    if name not in CONSTRAINT_METRICS:
        raise UserError(f"--constraint '{text}': unknown metric '{name}'. Allowed names: "
                        f"{', '.join(CONSTRAINT_METRICS)}.")
    if not math.isfinite(float(num)):
        raise UserError(f"--constraint '{text}': the bound {num} is not a finite number (a bound that does not "
                        "limit anything is no constraint).")
    return Constraint(name, op, float(num))


@dataclass(frozen=True)
class SearchConfig:
    space: str
    run_dir: str
    target: str = "ort-cpu"
    budget: int = 20  # evaluated candidates (complete or failed), duplicates and rule rejections excluded
    time_budget_s: float | None = None
    sampler: str = "nsga2"
    seed: int = 0
    storage: str | None = None  # any Optuna storage URL or journal:PATH; default sqlite in the run dir
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")
    dataset: str = "digits"
    proxy: str = "train"  # a name in problems.scorers.SCORERS: "train" (short training) or a zero-cost proxy
    train_steps: int = 300
    measure: bool = True  # time each candidate on the target (else use the target's predictor)
    trial_timeout_s: float | None = None  # per-candidate wall-clock cap (hang -> failed)
    trial_memory_mb: int | None = None  # per-candidate memory cap (OOM -> failed)
    constraints: tuple[str, ...] = field(default_factory=tuple)
    backend: str = "local"  # registered in backends.BACKENDS: local | ray
    workers: int = 1  # parallel evaluations (ray backend)
    ray_address: str | None = None  # None: a local Ray instance; "auto" or HOST:PORT: a running cluster
    worker_cpus: float = 1.0  # Ray resources each candidate reserves
    worker_gpus: float = 0.0
    table: str | None = None  # a tabular benchmark instead of a space (no training): shipped name or NB201-format CSV
    table_accuracy: str | None = None  # the table's column a search reads as accuracy (None: the table's default)
    table_latency: str | None = None  # the table's latency column (ms)
    table_test: str | None = None  # the table's test-accuracy column, only reported
    screen: int = 1  # multi-fidelity: cheap-score this many proposals per trained candidate (1 = off)
    prune: bool = False  # multi-fidelity: stop training of candidates behind at a rung (ASHA-style)
    heartbeat_s: int | None = None  # RDB/journal storages: mark trials stale after 4 missed beats
    recipe: dict[str, Any] = field(default_factory=dict)  # hynas.proxy.recipe.TrainRecipe fields; {}: steps=train_steps
    input_resolution: int | None = None  # candidates built, timed, exported at this size; None: the data's
    latency_predictor: dict[str, Any] = field(default_factory=dict)  # how latencies are got (hynas.latency.source)
    metric: str = ""  # what the accuracy objective is on this dataset's task (accuracy, mIoU, auc, ...); display only
    max_activation_mb: float | None = None  # overrides the space's rules.max_activation_mb
    int8_keep_bridges: bool = False  # accuracy_int8: keep the bridge blocks fp32 (mixed precision, Q-HyViT)

    def __post_init__(self) -> None:
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise UserError(f"unknown objective '{o}'. Known: {', '.join(OBJECTIVES)}.")
        if "accuracy" not in self.objectives or (len(self.objectives) < 2 and self.table is None):
            raise UserError("objectives must include 'accuracy' and at least one cost (latency_ms, params_m, macs_g).")
        if self.budget < 1:
            raise UserError(f"--budget must be at least 1, got {self.budget}.")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise UserError("--time-budget must be positive.")
        if self.train_steps < 1:
            raise UserError("--train-steps must be at least 1.")
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}.")
        if self.max_activation_mb is not None and not (0 < self.max_activation_mb < float("inf")):
            raise UserError(f"--max-activation-mb must be a positive number of MB, got {self.max_activation_mb}.")
        if not self.worker_cpus > 0:
            raise UserError(f"--worker-cpus must be positive, got {self.worker_cpus}.")
        if not self.worker_gpus >= 0:
            raise UserError(f"--worker-gpus must be 0 or more, got {self.worker_gpus}.")
        if self.table is None and (self.table_accuracy or self.table_latency or self.table_test):
            raise UserError("--table-accuracy, --table-latency and --table-test name columns of a --table.")
        if self.screen < 1:
            raise UserError(f"--screen must be at least 1, got {self.screen}.")
        self.parsed_constraints()
        if self.int8_keep_bridges and "accuracy_int8" not in (*self.objectives, *self.constraint_metrics()):
            raise UserError("--int8-keep-bridges sets how the accuracy_int8 objective quantizes a candidate; add "
                            "accuracy_int8 to --objectives (or a --constraint on it), or drop the flag.")
        from hynas.search.checks import check_flags

        check_flags(self)  # seed, heartbeat, trial caps, duplicate objectives
        self._check_names()
        self._check_recipe()

    def train_recipe(self) -> Any:
        """The ``TrainRecipe`` candidates are trained with (the search's seed; ``train_steps`` when none was given)."""
        from hynas.proxy.recipe import TrainRecipe

        base = TrainRecipe.from_dict(self.recipe, source="recipe") if self.recipe else TrainRecipe(steps=self.train_steps)
        return base.with_seed(self.seed)

    def _check_recipe(self) -> None:
        recipe = self.train_recipe()
        if self.backend == "ray" and recipe.device.startswith("cuda") and not self.worker_gpus > 0:
            raise UserError(f"--device {recipe.device} with --backend ray needs --worker-gpus > 0 (Ray hides GPUs "
                            "from tasks that reserve none); or use --device auto.")

    def _check_names(self) -> None:
        """Unknown sampler, backend or proxy names fail here, before a run directory is written (exit 2)."""
        from hynas.search.backends import BACKENDS
        from hynas.search.samplers import SAMPLERS

        SAMPLERS.get(self.sampler)
        BACKENDS.get(self.backend)
        if self.table is None:  # a table search reads accuracies from the table: no proxy runs
            from hynas.search.problems.scorers import SCORERS

            SCORERS.get(self.proxy)
        from hynas.search.problems.evaluate import check_trained_scores

        check_trained_scores(self)  # a post-training score with a zero-cost proxy or a table

    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(parse_constraint(c) for c in self.constraints)

    def constraint_metrics(self) -> tuple[str, ...]:
        return tuple(c.metric for c in self.parsed_constraints())

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        d["constraints"] = list(self.constraints)
        d["recipe_hash"] = self.train_recipe().fingerprint() if self.table is None else ""
        return d


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str | None, flag: str = "--time-budget") -> float | None:
    """'90', '90s', '15m', '2h', '1d' -> seconds; an error names ``flag``."""
    if text is None or text == "":
        return None
    m = _DURATION.match(str(text))
    if not m:
        raise UserError(f"{flag} '{text}' is not a duration. Allowed: a number with s, m, h or d (e.g. 15m).")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return float(m.group(1)) * scale
