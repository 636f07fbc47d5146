"""NAS-Bench-201's cell format and its result table: the one place both are defined (no torch).

Dong & Yang, "NAS-Bench-201", ICLR 2020: a cell is a DAG of 4 nodes whose 6 edges
(j -> i for j < i) each carry one of 5 operations, so 5**6 = 15,625 cells. Arch strings use
the benchmark's format ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~j`` is the edge
from node j into node i (i = 1, 2, 3). The network built from a cell lives in
``hynas.proxy.nb201`` (torch); the cell as a hynas block in ``hynas.blocks.cells``; the
tabular search in ``hynas.search.problems.tabular``. All of them use the constants, the
parser and the table reader below.

Two tables ship in ``hynas/data/tables`` (licences and citations there): ``nb201-cifar10``
(columns ``arch_str, params_M, cifar10_valid_acc, cifar10_test_acc,
latency_ms_xeon_gold_6226``: CIFAR-10 validation and test accuracy, latency on a Xeon Gold
6226 from HELP, Lee et al. 2021) and ``nb201-cifar100`` (``cifar100_test_acc``,
``latency_ms_pixel3``, ``latency_ms_titan_rtx_1``). Any CSV with an ``arch_str`` column
works too, its accuracy and latency columns named by the caller.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hynas.errors import UserError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), the benchmark's order
EDGE_NAMES = tuple(f"edge{i}<-{j}" for i, j in EDGES)  # the tabular search's decision names
Genotype = tuple[str, ...]  # one op per edge, in EDGES order


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


TABLES_DIR = Path(__file__).resolve().parent / "data" / "tables"


@dataclass(frozen=True)
class TableColumns:
    """Which columns of an NB201-format table a search reads: ``accuracy`` (what the search sees), ``latency``
    (ms), ``test`` (only reported: NAS-Bench-201's test accuracy of what was picked) and ``params`` (M)."""

    accuracy: str = "cifar10_valid_acc"
    latency: str = "latency_ms_xeon_gold_6226"
    test: str | None = "cifar10_test_acc"
    params: str = "params_M"


SHIPPED_TABLES = {  # --table NAME: the file under hynas/data/tables and its default columns
    "nb201-cifar10": ("nb201_cifar10.csv.gz", TableColumns()),
    "nb201-cifar100": ("nb201_cifar100_devices.csv.gz",
                       TableColumns(accuracy="cifar100_test_acc", latency="latency_ms_pixel3", test=None)),
}


def resolve_table(source: str | Path) -> tuple[Path, TableColumns]:
    """A shipped table name or a CSV path (``.csv`` or ``.csv.gz``) -> (file, default columns)."""
    if str(source) in SHIPPED_TABLES:
        name, cols = SHIPPED_TABLES[str(source)]
        return TABLES_DIR / name, cols
    p = Path(source)
    if not p.is_file():
        raise UserError(f"NAS-Bench-201 table not found: {p}. --table takes a shipped table "
                        f"({', '.join(SHIPPED_TABLES)}) or the path of an NB201-format CSV (.csv or .csv.gz) with "
                        "an arch_str column.")
    return p, TableColumns()


@dataclass(frozen=True)
class Entry:
    ops: Genotype
    valid_acc: float  # the accuracy column: what a search reads
    test_acc: float | None  # the test column, when the table has one
    params_m: float  # nan when the table has no params column
    latency_ms: float


class NB201Table:
    """A NAS-Bench-201 result table in memory (15,625 rows); lookups by the 6 edge operations.

    ``source``: a shipped table name (``SHIPPED_TABLES``) or a CSV path. ``accuracy``,
    ``latency`` and ``test`` name the columns to read (default: the source's defaults, see
    :class:`TableColumns`). Strict: the named columns must be there, every arch string must
    parse and every value read must be a number; the first bad row is named (file and line).
    """

    def __init__(self, source: str | Path, accuracy: str | None = None, latency: str | None = None,
                 test: str | None = None) -> None:
        p, default = resolve_table(source)
        keep_test = accuracy in (None, default.accuracy)  # the default test column belongs to the default accuracy
        self.cols = TableColumns(accuracy or default.accuracy, latency or default.latency,
                                 test or (default.test if keep_test else None), default.params)
        self.path = p
        self.rows: dict[Genotype, Entry] = {}
        self.columns: dict[Genotype, dict[str, float]] = {}  # every numeric column of each row
        with _open_text(p) as f:
            reader = csv.DictReader(f)
            self._check_header(list(reader.fieldnames or []), accuracy is None and latency is None)
            for line, r in enumerate(reader, start=2):
                self._add(r, f"{p}:{line}")
        if not self.rows:
            raise UserError(f"{p}: the table has no rows.")

    def _check_header(self, header: list[str], defaults: bool) -> None:
        c = self.cols
        missing = [n for n in ("arch_str", c.accuracy, c.latency, c.test) if n and n not in header]
        if missing:
            how = ("name the columns to read with --table-accuracy COL and --table-latency COL"
                   + (" (and --table-test COL)" if defaults else ""))
            raise UserError(f"{self.path}: no column {', '.join(repr(m) for m in missing)}. Its columns: "
                            f"{', '.join(header)}; {how}.")
        self._has_params = c.params in header

    def _add(self, r: dict[str, str], where: str) -> None:
        c = self.cols
        try:
            ops = parse(r["arch_str"])
            used = {n: float(r[n]) for n in (c.accuracy, c.latency, c.test) if n}
            params = float(r[c.params]) if self._has_params else math.nan
        except (CellStringError, TypeError, ValueError) as e:
            raise UserError(f"{where}: {e}") from None
        self.columns[ops] = {**_numbers(r), **used}
        self.rows[ops] = Entry(ops, used[c.accuracy], used[c.test] if c.test else None, params, used[c.latency])

    @property
    def latency_name(self) -> str:
        """The latency column without its ``latency_ms_`` prefix (the device), e.g. ``xeon_gold_6226``."""
        return self.cols.latency.removeprefix("latency_ms_")

    @property
    def has_params(self) -> bool:
        return self._has_params

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, ops: object) -> bool:
        return isinstance(ops, tuple) and ops in self.rows

    def __getitem__(self, ops: Sequence[str]) -> Entry:
        return self.rows[tuple(ops)]

    def by_string(self) -> dict[str, dict[str, float]]:
        """arch_str -> the row's numeric columns."""
        return {to_string(ops): dict(v) for ops, v in self.columns.items()}

    def best_by_valid(self) -> Entry:
        """The cell an oracle with the accuracy column would pick (its test accuracy is the optimum)."""
        return max(self.rows.values(), key=lambda e: e.valid_acc)

    def front(self, cost: str = "latency_ms") -> list[tuple[float, float]]:
        """The exact Pareto front of (accuracy max, ``cost`` min) over the whole table, by cost."""
        from hynas.results.pareto import pareto_mask

        pts = [(e.valid_acc, getattr(e, cost)) for e in self.rows.values()]
        keep = pareto_mask(pts, ["maximize", "minimize"])
        return sorted({p for p, k in zip(pts, keep) if k}, key=lambda p: (p[1], -p[0]))


def _open_text(p: Path) -> IO[str]:
    if p.suffix == ".gz":
        import gzip

        return gzip.open(p, "rt", newline="", encoding="utf-8")
    return p.open(newline="", encoding="utf-8")


def _numbers(r: dict[str, str]) -> dict[str, float]:
    """The row's other columns that hold numbers (a generic table may carry text columns too)."""
    out = {}
    for k, v in r.items():
        if k not in (None, "arch_str"):
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                continue
    return out


def load_table(path: str | Path) -> dict[str, dict[str, float]]:
    """An NB201 CSV as arch_str -> row of floats (read by :class:`NB201Table`, so as strictly)."""
    return NB201Table(path).by_string()
