"""NAS-Bench-201's cell format and its result table: the one place both are defined (no torch).

Dong & Yang, "NAS-Bench-201", ICLR 2020: a cell is a DAG of 4 nodes whose 6 edges
(j -> i for j < i) each carry one of 5 operations, so 5**6 = 15,625 cells. Arch strings use
the benchmark's format ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~j`` is the edge
from node j into node i (i = 1, 2, 3). The network built from a cell lives in
``hynas.proxy.nb201`` (torch); the cell as a hynas block in ``hynas.blocks.cells``; the
tabular search in ``hynas.search.problems.tabular``. All of them use the constants, the
parser and the table reader below.

The table (``nb201_cifar10.csv``, columns ``arch_str, params_M, cifar10_valid_acc,
cifar10_test_acc, latency_ms_xeon_gold_6226``) gives each cell's CIFAR-10 validation and
test accuracy and its latency on a Xeon Gold 6226 (from HELP, Lee et al. 2021).
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hynas.errors import UserError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), the benchmark's order
EDGE_NAMES = tuple(f"edge{i}<-{j}" for i, j in EDGES)  # the tabular search's decision names
Genotype = tuple[str, ...]  # one op per edge, in EDGES order
COLUMNS = ("arch_str", "params_M", "cifar10_valid_acc", "cifar10_test_acc", "latency_ms_xeon_gold_6226")


class CellStringError(UserError, ValueError):
    """Text that is not a NAS-Bench-201 arch string (a user error, and a ValueError for library callers)."""


def parse(text: str) -> Genotype:
    """``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|`` -> ('a', 'b', 'c', 'd', 'e', 'f'), every node, edge and op checked."""
    nodes = str(text).strip().split("+")
    if len(nodes) != 3:
        raise CellStringError(f"NAS-Bench-201 arch string needs 3 nodes joined by '+', got {text!r}")
    ops: list[str] = []
    for i, node in enumerate(nodes, start=1):
        edges = [e for e in node.strip("|").split("|") if e]
        if len(edges) != i:
            raise CellStringError(f"node {i} of {text!r} needs {i} edges, got {len(edges)}")
        for j, edge in enumerate(edges):
            op, _, src = edge.partition("~")
            if op not in OPS or src != str(j):
                raise CellStringError(f"bad edge {edge!r} in {text!r}: expected op~{j} with op in {OPS}")
            ops.append(op)
    return tuple(ops)


def to_string(genotype: Sequence[str]) -> str:
    """Inverse of :func:`parse`."""
    it = iter(zip(EDGES, genotype))
    return "+".join("|" + "|".join(f"{op}~{j}" for (_, j), op in itertools.islice(it, i)) + "|" for i in (1, 2, 3))


def all_genotypes() -> Iterator[Genotype]:
    """All 5^6 = 15,625 cells, in lexicographic order of OPS."""
    return itertools.product(OPS, repeat=len(EDGES))


def sample(rng: random.Random) -> Genotype:
    return tuple(rng.choice(OPS) for _ in EDGES)


def effective_ops(ops: Sequence[str]) -> Genotype:
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


def is_connected(genotype: Sequence[str]) -> bool:
    """Whether the output node is reachable from the input (else the cell outputs zeros)."""
    return any(o != "none" for o in effective_ops(genotype))


@dataclass(frozen=True)
class Entry:
    ops: Genotype
    valid_acc: float
    test_acc: float
    params_m: float
    latency_ms: float


class NB201Table:
    """The whole table in memory (15,625 rows); lookups by the 6 edge operations.

    Strict: every column of ``COLUMNS`` must be there, every arch string must parse and
    every value must be a number; the first bad row is named (file and line).
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"NAS-Bench-201 table not found: {p}. Pass the path of an NB201 CSV "
                            f"(columns {', '.join(COLUMNS)}) with --table.")
        self.path = p
        self.rows: dict[Genotype, Entry] = {}
        self.columns: dict[Genotype, dict[str, float]] = {}  # every numeric column of each row
        with p.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{p}: missing columns {', '.join(missing)}.")
            for line, r in enumerate(reader, start=2):
                self._add(r, f"{p}:{line}")
        if not self.rows:
            raise UserError(f"{p}: the table has no rows.")

    def _add(self, r: dict[str, str], where: str) -> None:
        try:
            ops = parse(r["arch_str"])
            vals = {k: float(v) for k, v in r.items() if k != "arch_str" and k is not None}
        except (CellStringError, TypeError, ValueError) as e:
            raise UserError(f"{where}: {e}") from None
        self.columns[ops] = vals
        self.rows[ops] = Entry(ops, vals["cifar10_valid_acc"], vals["cifar10_test_acc"], vals["params_M"],
                               vals["latency_ms_xeon_gold_6226"])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, ops: Sequence[str]) -> Entry:
        return self.rows[tuple(ops)]

    def by_string(self) -> dict[str, dict[str, float]]:
        """arch_str -> the row's numeric columns."""
        return {to_string(ops): dict(v) for ops, v in self.columns.items()}

    def best_by_valid(self) -> Entry:
        """The cell an oracle with the validation column would pick (its test accuracy is the optimum)."""
        return max(self.rows.values(), key=lambda e: e.valid_acc)

    def front(self, cost: str = "latency_ms") -> list[tuple[float, float]]:
        """The exact Pareto front of (validation accuracy max, ``cost`` min) over the whole table, by cost."""
        from hynas.results.pareto import pareto_mask

        pts = [(e.valid_acc, getattr(e, cost)) for e in self.rows.values()]
        keep = pareto_mask(pts, ["maximize", "minimize"])
        return sorted({p for p, k in zip(pts, keep) if k}, key=lambda p: (p[1], -p[0]))


def load_table(path: str | Path) -> dict[str, dict[str, float]]:
    """An NB201 CSV as arch_str -> row of floats (read by :class:`NB201Table`, so as strictly)."""
    return NB201Table(path).by_string()
