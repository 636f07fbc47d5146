"""A run directory can be copied or moved: run.json keeps its storage relative to the directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hynas.errors import UserError
from hynas.results.trials import load_run
from hynas.search import SearchConfig, run_search
from hynas.search.storage.rundir import read_meta, storage_url


def _table_run(rd: Path, budget: int = 6, storage: str | None = None) -> SearchConfig:
    cfg = SearchConfig(space="default", run_dir=str(rd), table="nb201-cifar10", budget=budget, sampler="random",
                       storage=storage)
    run_search(cfg)
    return cfg


def test_run_json_stores_the_study_relative_to_the_run(tmp_path: Path) -> None:
    _table_run(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["storage"] == "sqlite:///study.db" and meta["storage_in_run_dir"] is True
    assert "_run_dir" not in meta  # in memory only


def test_a_copied_run_reads_and_resumes_its_own_study(tmp_path: Path) -> None:
    src, dst = tmp_path / "a" / "run", tmp_path / "b" / "copy"
    _table_run(src)
    shutil.copytree(src, dst)
    shutil.rmtree(src)  # the original is gone: the copy must not need it
    assert storage_url(read_meta(dst)) == f"sqlite:///{(dst / 'study.db').resolve()}"
    assert len(load_run(dst).complete()) == 6
    _table_run(dst, budget=9)  # resuming the copy extends the copy
    assert len(load_run(dst).complete()) == 9 and not src.exists()


def test_a_copy_without_its_study_says_so(tmp_path: Path) -> None:
    src, dst = tmp_path / "run", tmp_path / "copy"
    _table_run(src)
    dst.mkdir()
    shutil.copy(src / "run.json", dst / "run.json")
    with pytest.raises(UserError, match="copied without its study"):
        load_run(dst)
    assert len(load_run(src).complete()) == 6  # and it never read (or wrote) the original's study


def test_a_journal_inside_the_run_is_relative_one_outside_stays_absolute(tmp_path: Path) -> None:
    inside = tmp_path / "r1"
    _table_run(inside, budget=3, storage=f"journal:{inside / 'journal.log'}")
    assert read_meta(inside)["storage"] == "journal:journal.log"
    shutil.copytree(inside, tmp_path / "r1-copy")
    assert len(load_run(tmp_path / "r1-copy").complete()) == 3
    outside = tmp_path / "shared.log"
    _table_run(tmp_path / "r2", budget=3, storage=f"journal:{outside}")
    meta = read_meta(tmp_path / "r2")
    assert meta["storage"] == f"journal:{outside}" and not meta.get("storage_in_run_dir")
