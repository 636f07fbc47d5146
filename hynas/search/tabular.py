"""NAS-Bench-201 as a tabular benchmark: search quality measured exactly, without training.

NAS-Bench-201 (Dong & Yang, ICLR 2020) trained every cell of its space to 200 epochs:
one cell is a DAG of 4 nodes whose 6 edges (j -> i for j < i) each carry one of 5
operations, so 5**6 = 15,625 cells. The table (``nb201_cifar10.csv``, columns
``arch_str, params_M, cifar10_valid_acc, cifar10_test_acc, latency_ms_xeon_gold_6226``)
gives each cell's CIFAR-10 validation and test accuracy and its latency on a Xeon Gold
6226 (from HELP, Lee et al. 2021).

A search here reads the *validation* accuracy (what a search may look at) and reports the
*test* accuracy of what it picked (what the literature compares), so a number from this
module is directly comparable to published NAS-Bench-201 results.

The decision structure (6 categorical decisions named ``edge1<-0`` ... ``edge3<-2``) is
defined here, so the tabular search needs neither torch nor a space YAML.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hynas.errors import UserError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in arch_str order
EDGE_NAMES = tuple(f"edge{i}<-{j}" for i, j in EDGES)
_COLUMNS = ("arch_str", "params_M", "cifar10_valid_acc", "cifar10_test_acc", "latency_ms_xeon_gold_6226")


def arch_str(ops: Sequence[str]) -> str:
    """The NAS-Bench-201 string of a cell, e.g. ``|nor_conv_3x3~0|+|...~0|...~1|+|...|``."""
    nodes = []
    for node in (1, 2, 3):
        nodes.append("|" + "|".join(f"{ops[k]}~{j}" for k, (i, j) in enumerate(EDGES) if i == node) + "|")
    return "+".join(nodes)


def effective_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """The cell with every edge that cannot affect the output set to ``none``.

    An edge j -> i matters only when node j is reachable from the input (node 0) and node i
    reaches the output (node 3) through edges that are not ``none``; any other edge feeds a
    node whose value is never used or computes on a node that receives nothing. Cells with
    the same effective form are the same network (NAS-Bench-201 counts 6,466 unique cells
    among its 15,625 after such reductions, Dong & Yang 2020), so a search that has trained
    one gains nothing from training another.
    """
    live = [o != "none" for o in ops]
    from_input = {0}
    for node in (1, 2, 3):
        if any(live[k] and i == node and j in from_input for k, (i, j) in enumerate(EDGES)):
            from_input.add(node)
    to_output = {3}
    for node in (2, 1, 0):
        if any(live[k] and j == node and i in to_output for k, (i, j) in enumerate(EDGES)):
            to_output.add(node)
    return tuple(o if live[k] and j in from_input and i in to_output else "none"
                 for k, (o, (i, j)) in enumerate(zip(ops, EDGES)))


def parse_arch_str(text: str) -> tuple[str, ...]:
    """Inverse of :func:`arch_str`: the 6 edge operations in ``EDGES`` order."""
    ops = []
    for node in text.split("+"):
        for tok in node.strip("|").split("|"):
            ops.append(tok.split("~")[0])
    if len(ops) != len(EDGES) or any(o not in OPS for o in ops):
        raise UserError(f"not a NAS-Bench-201 cell string: {text!r}")
    return tuple(ops)


@dataclass(frozen=True)
class Entry:
    ops: tuple[str, ...]
    valid_acc: float
    test_acc: float
    params_m: float
    latency_ms: float


class NB201Table:
    """The whole table in memory (15,625 rows); lookups by the 6 edge operations."""

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"NAS-Bench-201 table not found: {p}. It ships beside the repo at "
                            "../shared/data/nb201_cifar10.csv; pass its path with --table.")
        self.path = p
        self.rows: dict[tuple[str, ...], Entry] = {}
        with p.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{p}: missing columns {', '.join(missing)}.")
            for r in reader:
                ops = parse_arch_str(r["arch_str"])
                self.rows[ops] = Entry(ops, float(r["cifar10_valid_acc"]), float(r["cifar10_test_acc"]),
                                       float(r["params_M"]), float(r["latency_ms_xeon_gold_6226"]))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, ops: Sequence[str]) -> Entry:
        return self.rows[tuple(ops)]

    def best_by_valid(self) -> Entry:
        """The cell an oracle with the validation column would pick (its test accuracy is the optimum)."""
        return max(self.rows.values(), key=lambda e: e.valid_acc)

    def front(self, cost: str = "latency_ms") -> list[tuple[float, float]]:
        """The exact Pareto front of (validation accuracy max, ``cost`` min) over the whole table."""
        return pareto_2d([(e.valid_acc, getattr(e, cost)) for e in self.rows.values()])


def pareto_2d(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (accuracy max, cost min) points, by cost ascending."""
    out: list[tuple[float, float]] = []
    best = float("-inf")
    for acc, cost in sorted(points, key=lambda p: (p[1], -p[0])):
        if acc > best:
            out.append((acc, cost))
            best = acc
    return out


class TabularProblem:
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

    def propose(self, trial: Any) -> Any:
        """Draw a cell from the trial: 6 categorical decisions, keyed by its *effective* cell, so a cell
        equivalent to one already evaluated is a free duplicate (see :func:`effective_ops`)."""
        from hynas.search.engine import Candidate

        ops = tuple(trial.suggest_categorical(n, list(OPS)) for n in EDGE_NAMES)
        s, key = arch_str(ops), arch_str(effective_ops(ops))
        return Candidate(key=key, attrs={"arch_str": s, "hash": key}, payload=ops)

    def evaluate(self, cand: Any, report: Any = None) -> Any:
        """Validation accuracy (what the search sees) and test accuracy (only reported) from the table."""
        from hynas.search.engine import Evaluation

        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        e = self.table[cand.payload]
        values = {"accuracy": e.valid_acc, "latency_ms": e.latency_ms, "params_m": e.params_m}
        return Evaluation(values, {"test_acc": e.test_acc, "params": e.params_m * 1e6,
                                   "latency_method": "table:xeon_gold_6226"})


def run_tabular(table: NB201Table, sampler: Any, queries: int, objectives: Sequence[str] = ("accuracy",),
                storage: Any = None) -> Any:
    """One NAS-Bench-201 search through the engine's own loop; returns the finished Optuna study.

    ``queries`` counts distinct effective cells evaluated (duplicates and cells equivalent to an
    evaluated one cost nothing, as in the engine).
    """
    import optuna

    from hynas.search.config import OBJECTIVES
    from hynas.search.engine import Search, run_local

    study = optuna.create_study(storage=storage, sampler=sampler, directions=[OBJECTIVES[o] for o in objectives])
    run_local(Search(study, TabularProblem(table, objectives), tuple(objectives), queries))
    return study
