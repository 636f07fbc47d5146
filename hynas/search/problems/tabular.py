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
from hynas.search.types import BaseProblem, Candidate, Evaluation, Rejected, Report

__all__ = ["NB201Table", "TabularProblem"]


class TabularProblem(BaseProblem):
    """The engine's problem interface for NAS-Bench-201: decisions -> table row -> objective values."""

    name = "nb201"

    def __init__(self, table: NB201Table, objectives: Sequence[str] = ("accuracy",), delay_s: float = 0.0) -> None:
        """``delay_s`` simulates an evaluation's duration (tests and benchmarks of parallel backends)."""
        known = ("accuracy", "latency_ms", "params_m") if table.has_params else ("accuracy", "latency_ms")
        for o in objectives:
            if o not in known:
                raise UserError(f"objective '{o}' is not in the table {table.path.name}. Known: {', '.join(known)}.")
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
        if cand.payload not in self.table:  # a table of some cells only: the others cost nothing
            raise Rejected(f"not_in_table: {cand.attrs['arch_str']} is not in {self.table.path.name}")
        e = self.table[cand.payload]
        values = {"accuracy": e.valid_acc, "latency_ms": e.latency_ms}
        attrs: dict[str, Any] = {"latency_method": f"table:{self.table.latency_name}"}
        if self.table.has_params:
            values["params_m"] = e.params_m
            attrs["params"] = e.params_m * 1e6
        if e.test_acc is not None:
            attrs["test_acc"] = e.test_acc
        return Evaluation(values, attrs)
