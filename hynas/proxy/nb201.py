"""The NAS-Bench-201 cell space, built exactly as the benchmark trained it, for validating proxies.

Why Python and not a YAML space: NAS-Bench-201 repeats ONE cell genotype in all 15 cell
positions, while the hynas DSL samples each stage's blocks independently; tying a choice
across stages has no DSL form, so the 15,625-arch space is defined here as its 6 edges x
5 ops. Definitions follow Dong & Yang, "NAS-Bench-201", ICLR 2020 (TinyNetwork /
InferCell / ResNetBasicblock in the official code): stem conv3x3-16 + BN; 3 stages of 5
cells (hynas.blocks.cells) with C = 16, 32, 64; a residual reduction block between stages; BN-ReLU, global
average pooling and a linear classifier. Parameter counts match the table's ``params_M``.

The cell format (ops, edges, arch strings) and the table reader are ``hynas.nb201``'s.
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.cells import CellDAG, ReLUConvBN
from hynas.nb201 import (  # noqa: F401 - the cell format's one definition, re-exported for proxy users
    EDGES,
    OPS,
    Genotype,
    all_genotypes,
    is_connected,
    load_table,
    parse,
    sample,
    to_string,
)


def cell_graph(genotype: Genotype):
    """The cell as a networkx DiGraph over nodes 0..3, one edge per non-'none' op (attr ``op``)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(4))
    for (i, j), op in zip(EDGES, genotype):
        if op != "none":
            g.add_edge(j, i, op=op)
    return g


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
