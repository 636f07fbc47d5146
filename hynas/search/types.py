"""What the search's parts pass each other: candidates, evaluations, outcomes and the problem protocol.

Everything here is plain data (no Optuna, no torch), so samplers, storage, backends and
problems can all import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Report = Callable[[int, float], bool]  # report(step, val_acc) -> stop?; may carry ``stopped_at``
ReporterFactory = Callable[[Any, Any], Report]  # (study, trial) -> report


class Rejected(Exception):
    """A candidate a rule or a global limit rejects: recorded as PRUNED, costs nothing."""


class Pruned(Exception):
    """Training stopped at a rung: the candidate counts as evaluated, recorded as PRUNED."""

    def __init__(self, step: int, accuracy: float, values: dict[str, float] | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
        """``values``/``attrs``: what the evaluation measured before it stopped (latency, sizes), kept on the
        trial so plots and reports can place it on every axis, not only on the size axes."""
        super().__init__(f"stopped at step {step} (accuracy {accuracy:.4f}) behind its rung")
        self.step, self.accuracy = step, accuracy
        self.values, self.attrs = dict(values or {}), dict(attrs or {})

    def __reduce__(self) -> tuple[Any, ...]:  # pickled whole (a Ray worker sends it back to the driver)
        return (Pruned, (self.step, self.accuracy, self.values, self.attrs))


@dataclass
class Candidate:
    key: str  # de-duplication key (the arch hash)
    attrs: dict[str, Any]  # user attrs stored before evaluation ("arch", "hash", "summary")
    payload: Any = None  # what the problem evaluates (an Arch, a table key...)


@dataclass
class Evaluation:
    """Objective values (``accuracy``, ``latency_ms``, ...) and the user attrs stored with them."""

    values: dict[str, float]
    attrs: dict[str, Any]


@runtime_checkable
class Problem(Protocol):
    """What the engine searches. ``screen_size`` > 1: the engine asks that many proposals per evaluation and
    :meth:`pick` chooses one; ``reporter``: a factory of the per-trial rung report (None: no pruning)."""

    screen_size: int
    reporter: ReporterFactory | None

    def propose(self, trial: Any) -> Candidate: ...

    def evaluate(self, cand: Candidate, report: Report | None = None) -> Evaluation: ...

    def pick(self, cands: list[Candidate]) -> tuple[int, list[dict[str, Any]]]: ...

    def preflight(self) -> None:
        """Refuse (a UserError) a problem no candidate can satisfy, before a run directory is written."""
        ...


class BaseProblem:
    """Defaults of the :class:`Problem` protocol: one proposal per evaluation, no pruning, no preflight."""

    screen_size: int = 1
    reporter: ReporterFactory | None = None

    def propose(self, trial: Any) -> Candidate:
        raise NotImplementedError

    def evaluate(self, cand: Candidate, report: Report | None = None) -> Evaluation:
        raise NotImplementedError

    def pick(self, cands: list[Candidate]) -> tuple[int, list[dict[str, Any]]]:
        return 0, [{} for _ in cands]

    def preflight(self) -> None:
        return None


@dataclass
class SearchSummary:
    run_dir: str
    evaluated: int = 0
    complete: int = 0
    failed: int = 0
    rejected: int = 0
    duplicates: int = 0
    recovered: int = 0
    feasible: int = 0
    screened_out: int = 0
    pruned: int = 0
    stop_reason: str = ""
    elapsed_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)  # exception type -> count (evaluated, failed)
    reasons: dict[str, int] = field(default_factory=dict)  # each distinct failure reason (first 200 chars) -> count
