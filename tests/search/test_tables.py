"""Table searches: the shipped NAS-Bench-201 tables by name, and any NB201-format CSV with named columns."""

from __future__ import annotations

import csv
import gzip
import hashlib
from pathlib import Path
from typing import Any

import pytest

from hynas.errors import UserError
from hynas.nb201 import EDGES, OPS, SHIPPED_TABLES, TABLES_DIR, NB201Table, all_genotypes, parse, to_string
from hynas.results.trials import load_run
from tests.cli import run_cli

SHIPPED_SHA256 = {"nb201_cifar10.csv.gz": "d1da1c21dfd1568879620310b7596608350c4db77b6c04c63e92a3fea96cca26",
                  "nb201_cifar100_devices.csv.gz": "84658ce7ad4f9b62bcf5c9bb66e4f1d232672e0b0dcc38468104b10761a43ca9"}


def _acc(ops: tuple[str, ...]) -> float:
    """A made-up accuracy the test can recompute: 3x3 convolutions help, 'none' edges hurt."""
    return 50.0 + 5 * ops.count("nor_conv_3x3") + 2 * ops.count("nor_conv_1x1") - 3 * ops.count("none")


def _lat(ops: tuple[str, ...]) -> float:
    return 1.0 + 0.5 * ops.count("nor_conv_3x3") + 0.2 * ops.count("nor_conv_1x1")


def write_table(path: Path, rows: int | None = None) -> Path:
    """An NB201-format CSV with other column names than NAS-Bench-201's, a text column, no params column."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "top1", "phone_ms", "note"])
        for i, ops in enumerate(all_genotypes()):
            if rows is not None and i >= rows:
                break
            w.writerow([to_string(ops), f"{_acc(ops):.4f}", f"{_lat(ops):.4f}", "generated"])
    return path




@pytest.mark.parametrize("name", sorted(SHIPPED_TABLES))
def test_shipped_tables_are_the_published_files_whole(name: str) -> None:
    file, cols = SHIPPED_TABLES[name]
    data = gzip.decompress((TABLES_DIR / file).read_bytes())
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256[file]
    table = NB201Table(name)
    assert len(table) == len(OPS) ** len(EDGES) == 15625
    assert table.cols == cols and table.has_params
    assert (TABLES_DIR / "LICENSE").is_file() and "MIT License" in (TABLES_DIR / "LICENSE").read_text()


def test_cifar100_table_reads_its_own_columns() -> None:
    t = NB201Table("nb201-cifar100", latency="latency_ms_titan_rtx_1")
    e = t[("nor_conv_3x3",) * 6]
    row = t.columns[("nor_conv_3x3",) * 6]
    assert e.valid_acc == row["cifar100_test_acc"] and e.latency_ms == row["latency_ms_titan_rtx_1"]
    assert e.test_acc is None and t.latency_name == "titan_rtx_1"


def test_generic_table_search_reads_the_named_columns(tmp_path: Path, capsys: Any) -> None:
    table = write_table(tmp_path / "mine.csv")
    rd = tmp_path / "run"
    code, err = run_cli(["search", "--table", str(table), "--table-accuracy", "top1", "--table-latency", "phone_ms",
                         "--budget", "12", "--sampler", "random", "--run-dir", str(rd)], capsys)
    assert code == 0, err
    run = load_run(rd)
    done = run.complete()
    assert len(done) == 12
    for t in done:
        ops = parse(t.attrs["arch_str"])
        assert t.values["accuracy"] == pytest.approx(_acc(ops)) and t.values["latency_ms"] == pytest.approx(_lat(ops))
        assert t.attrs["latency_method"] == "table:phone_ms" and "test_acc" not in t.attrs
    assert run.meta["config"]["table_accuracy"] == "top1"


def test_generic_table_without_the_default_columns_is_refused_naming_them(tmp_path: Path, capsys: Any) -> None:
    table = write_table(tmp_path / "mine.csv", rows=10)
    rd = tmp_path / "run"
    code, err = run_cli(["search", "--table", str(table), "--run-dir", str(rd)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "'cifar10_valid_acc'" in err and "top1, phone_ms" in err and "--table-accuracy" in err
    code, err = run_cli(["search", "--table", str(table), "--table-accuracy", "top1", "--table-latency", "lat",
                         "--run-dir", str(rd)], capsys)
    assert code == 2 and "no column 'lat'" in err
    assert not rd.exists()


def test_params_objective_needs_a_params_column(tmp_path: Path) -> None:
    from hynas.search import SearchConfig, run_search

    table = write_table(tmp_path / "mine.csv", rows=10)
    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "run"), table=str(table), table_accuracy="top1",
                       table_latency="phone_ms", objectives=("accuracy", "params_m"), sampler="random")
    with pytest.raises(UserError, match="objective 'params_m' is not in the table mine.csv"):
        run_search(cfg)
    assert not (tmp_path / "run").exists()


def test_cells_missing_from_a_partial_table_cost_nothing(tmp_path: Path) -> None:
    """A table of some cells only: a proposal outside it is a rejected draw, not a failed candidate."""
    from hynas.search import SearchConfig, run_search

    rows = 3000
    table = write_table(tmp_path / "part.csv", rows=rows)
    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "run"), table=str(table), table_accuracy="top1",
                       table_latency="phone_ms", budget=4, sampler="random")
    summary = run_search(cfg)
    assert summary.complete == 4 and summary.failed == 0 and summary.rejected > 0
    run = load_run(tmp_path / "run")
    others = [t for t in run.trials if t.kind != "complete"]
    assert others and all(t.kind == "duplicate" or "not_in_table" in str(t.reason) for t in others)
    assert any(t.kind == "rejected" for t in others)


def test_column_flags_without_a_table_are_refused(tmp_path: Path) -> None:
    from hynas.search import SearchConfig

    with pytest.raises(UserError, match="name columns of a --table"):
        SearchConfig(space="default", run_dir=str(tmp_path / "run"), table_accuracy="top1")


def test_bad_row_is_named_by_file_and_line(tmp_path: Path) -> None:
    p = write_table(tmp_path / "bad.csv", rows=5)
    lines = p.read_text().splitlines()
    lines[3] = lines[3].replace("nor_conv_3x3", "conv9x9", 1) if "nor_conv_3x3" in lines[3] else "|x~0|+|y~0|,1,1,n"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"bad.csv:4: "):
        NB201Table(p, accuracy="top1", latency="phone_ms")
