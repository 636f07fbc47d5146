"""NAS-Bench-201 as a tabular benchmark: search quality measured exactly, without training.

The cell format and the table are ``hynas.nb201``'s. A search here reads the *validation*
accuracy (what a search may look at) and reports the *test* accuracy of what it picked
(what the literature compares), so a number from this module is directly comparable to
published NAS-Bench-201 results. The decision structure (6 categorical decisions named
``edge1<-0`` ... ``edge3<-2``) needs neither torch nor a space YAML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hynas.errors import UserError
from hynas.nb201 import EDGE_NAMES, OPS, NB201Table, effective_ops
from hynas.nb201 import to_string as arch_str
from hynas.search.types import BaseProblem, Candidate, Evaluation, Report

__all__ = ["NB201Table", "TabularProblem"]


class TabularProblem(BaseProblem):
    """The engine's problem interface for NAS-Bench-201: decisions -> table row -> objective values."""

    name = "nb201"

    def __init__(self, table: NB201Table, objectives: Sequence[str] = ("accuracy",), delay_s: float = 0.0) -> None:
        """``delay_s`` simulates an evaluation's duration (tests and benchmarks of parallel backends)."""
        for o in objectives:
            if o not in ("accuracy", "latency_ms", "params_m"):
                raise UserError(f"objective '{o}' is not in the NAS-Bench-201 table. Known: accuracy, latency_ms, "
                                "params_m.")
        self.table = table
        self.objectives = tuple(objectives)
        self.delay_s = delay_s

    def propose(self, trial: Any) -> Candidate:
        """Draw a cell from the trial: 6 categorical decisions, keyed by its *effective* cell, so a cell
        equivalent to one already evaluated is a free duplicate (see :func:`effective_ops`)."""
        ops = tuple(trial.suggest_categorical(n, list(OPS)) for n in EDGE_NAMES)
        s, key = arch_str(ops), arch_str(effective_ops(ops))
        return Candidate(key=key, attrs={"arch_str": s, "hash": key}, payload=ops)

    def evaluate(self, cand: Candidate, report: Report | None = None) -> Evaluation:
        """Validation accuracy (what the search sees) and test accuracy (only reported) from the table."""
        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        e = self.table[cand.payload]
        values = {"accuracy": e.valid_acc, "latency_ms": e.latency_ms, "params_m": e.params_m}
        return Evaluation(values, {"test_acc": e.test_acc, "params": e.params_m * 1e6,
                                   "latency_method": "table:xeon_gold_6226"})
