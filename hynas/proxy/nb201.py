"""The NAS-Bench-201 cell space, built exactly as the benchmark trained it, for validating proxies.

Why Python and not a YAML space: NAS-Bench-201 repeats ONE cell genotype in all 15 cell
positions, while the hynas DSL samples each stage's blocks independently; tying a choice
across stages has no DSL form, so the 15,625-arch space is defined here as its 6 edges x
5 ops. Definitions follow Dong & Yang, "NAS-Bench-201", ICLR 2020 (TinyNetwork /
InferCell / ResNetBasicblock in the official code): stem conv3x3-16 + BN; 3 stages of 5
cells (hynas.blocks.cells) with C = 16, 32, 64; a residual reduction block between stages; BN-ReLU, global
average pooling and a linear classifier. Parameter counts match the table's ``params_M``.

Arch strings use the benchmark's format: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` where
``op~j`` is the edge from node j into node i (i = 1, 2, 3).
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from hynas.blocks.cells import NB201_EDGES, NB201_OPS, CellDAG, ReLUConvBN

OPS = NB201_OPS  # none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
EDGES = NB201_EDGES  # (to, from): (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
Genotype = tuple[str, ...]  # one op per edge, in EDGES order


def parse(arch_str: str) -> Genotype:
    """``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|`` -> ('a', 'b', 'c', 'd', 'e', 'f'), validated."""
    nodes = arch_str.strip().split("+")
    if len(nodes) != 3:
        raise ValueError(f"NAS-Bench-201 arch string needs 3 nodes joined by '+', got {arch_str!r}")
    ops: list[str] = []
    for i, node in enumerate(nodes, start=1):
        edges = [e for e in node.strip("|").split("|") if e]
        if len(edges) != i:
            raise ValueError(f"node {i} of {arch_str!r} needs {i} edges, got {len(edges)}")
        for j, edge in enumerate(edges):
            op, _, src = edge.partition("~")
            if op not in OPS or src != str(j):
                raise ValueError(f"bad edge {edge!r} in {arch_str!r}: expected op~{j} with op in {OPS}")
            ops.append(op)
    return tuple(ops)


def to_string(genotype: Genotype) -> str:
    """Inverse of ``parse``."""
    it = iter(zip(EDGES, genotype))
    nodes = ["|" + "|".join(f"{op}~{j}" for (_, j), op in itertools.islice(it, i)) + "|" for i in (1, 2, 3)]
    return "+".join(nodes)


def all_genotypes() -> Iterator[Genotype]:
    """All 5^6 = 15,625 cells, in lexicographic order of OPS."""
    return itertools.product(OPS, repeat=len(EDGES))


def sample(rng: random.Random) -> Genotype:
    return tuple(rng.choice(OPS) for _ in EDGES)


def cell_graph(genotype: Genotype):
    """The cell as a networkx DiGraph over nodes 0..3, one edge per non-'none' op (attr ``op``)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(4))
    for (i, j), op in zip(EDGES, genotype):
        if op != "none":
            g.add_edge(j, i, op=op)
    return g


def is_connected(genotype: Genotype) -> bool:
    """Whether the output node is reachable from the input (else the cell outputs zeros)."""
    import networkx as nx

    return nx.has_path(cell_graph(genotype), 0, 3)


def load_table(path: str | Path) -> dict[str, dict[str, float]]:
    """The NAS-Bench-201 CSV (arch_str -> row of floats), e.g. ../shared/data/nb201_cifar10.csv."""
    with open(path, newline="") as f:
        return {row["arch_str"]: {k: float(v) for k, v in row.items() if k != "arch_str"} for row in csv.DictReader(f)}


class ResidualReduction(nn.Module):
    """ResNetBasicblock with stride 2: two ReLU-conv-BN plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    """TinyNetwork: stem, 3 x (5 cells) with 2 residual reductions, BN-ReLU, GAP, linear."""

    def __init__(self, genotype: Genotype | str, *, channels: int = 16, cells: int = 5, classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        genotype = parse(genotype) if isinstance(genotype, str) else tuple(genotype)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, c * 2))
                c *= 2
            layers.extend(CellDAG(genotype, c) for _ in range(cells))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))
