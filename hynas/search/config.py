"""Everything that defines a search, saved to ``run.json`` so the run can be re-run exactly."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from hynas.errors import UserError

OBJECTIVES = {"accuracy": "maximize", "latency_ms": "minimize", "params_m": "minimize", "macs_g": "minimize"}


@dataclass(frozen=True)
class SearchConfig:
    space: str
    run_dir: str
    target: str = "ort-cpu"
    budget: int = 20  # evaluated candidates (complete or failed), duplicates and rule rejections excluded
    time_budget_s: float | None = None
    sampler: str = "nsga2"
    seed: int = 0
    storage: str | None = None  # any Optuna storage URL; default sqlite in the run dir
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")
    dataset: str = "digits"
    proxy: str = "train"  # "train" (short training) or a registered zero-cost proxy name
    train_steps: int = 300
    measure: bool = True  # time each candidate on the target (else use the target's predictor)
    trial_timeout_s: float | None = None  # per-candidate wall-clock cap (hang -> failed)
    trial_memory_mb: int | None = None  # per-candidate memory cap (OOM -> failed)
    constraints: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise UserError(f"unknown objective '{o}'. Known: {', '.join(OBJECTIVES)}.")
        if "accuracy" not in self.objectives or len(self.objectives) < 2:
            raise UserError("objectives must include 'accuracy' and at least one cost (latency_ms, params_m, macs_g).")
        if self.budget < 1:
            raise UserError(f"--budget must be at least 1, got {self.budget}.")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise UserError("--time-budget must be positive.")
        if self.train_steps < 1:
            raise UserError("--train-steps must be at least 1.")

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        d["constraints"] = list(self.constraints)
        return d


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str | None) -> float | None:
    """'90', '90s', '15m', '2h', '1d' -> seconds."""
    if text is None or text == "":
        return None
    m = _DURATION.match(str(text))
    if not m:
        raise UserError(f"--time-budget '{text}' is not a duration. Allowed: a number with s, m, h or d (e.g. 15m).")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return float(m.group(1)) * scale
