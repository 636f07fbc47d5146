"""The NAS-Bench-201 cell space: arch strings round-trip, networks match the table's sizes."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch

from hynas.proxy.nb201 import (
    EDGES,
    OPS,
    NB201Net,
    all_genotypes,
    cell_graph,
    is_connected,
    load_table,
    parse,
    to_string,
)

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_arch_string_round_trip_and_space_size() -> None:
    genos = list(all_genotypes())
    assert len(genos) == 5 ** 6 == 15625 and len(set(genos)) == 15625
    for g in random.Random(0).sample(genos, 200):
        assert parse(to_string(g)) == g
    assert parse(ALL_CONV) == ("nor_conv_3x3",) * 6 and to_string(parse(ALL_CONV)) == ALL_CONV
    with pytest.raises(ValueError, match="bad edge"):
        parse("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="3 nodes"):
        parse("|none~0|")


def test_cell_graph_is_the_dag_without_none_edges() -> None:
    g = cell_graph(("skip_connect", "none", "nor_conv_1x1", "none", "none", "avg_pool_3x3"))
    assert sorted(g.edges(data="op")) == [(0, 1, "skip_connect"), (1, 2, "nor_conv_1x1"), (2, 3, "avg_pool_3x3")]
    assert is_connected(("skip_connect", "none", "nor_conv_1x1", "none", "none", "avg_pool_3x3"))
    assert not is_connected(("none",) * 6)
    assert len(EDGES) == 6 and len(OPS) == 5


def test_network_builds_and_runs() -> None:
    net = NB201Net(ALL_CONV, classes=10).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 1_531_546  # the largest cell (table: 1.531546 M)


def test_params_match_the_table(nb201_csv: Path) -> None:
    table = load_table(nb201_csv)
    assert len(table) == 15625 and {to_string(g) for g in all_genotypes()} == set(table)
    for arch in itertools.islice(random.Random(1).sample(sorted(table), 20), 20):
        n = sum(p.numel() for p in NB201Net(arch).parameters())
        assert n == round(table[arch]["params_M"] * 1e6), arch
