"""--storage values and search flags that cannot work are refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hynas.errors import UserError
from hynas.search import SearchConfig
from hynas.search.storage.rundir import prepare
from hynas.search.storage.urls import check_storage_url
from tests.cli import run_cli


def bad_urls(tmp_path: Path) -> list[str]:
    (tmp_path / "adir").mkdir(exist_ok=True)
    (tmp_path / "afile").write_text("x")
    return ["foo://bar", "redis://localhost:6379/0", "", "   ", "journal:", "journal:///proc/self/j.log",
            f"journal:{tmp_path / 'adir'}", f"sqlite:///{tmp_path / 'missing_dir' / 'x.db'}", "sqlite:///:memory:",
            "sqlite://", "sqlite:", f"sqlite:///{tmp_path / 'adir'}", f"journal:{tmp_path / 'afile' / 'j.log'}",
            "postgresql://nobody@127.0.0.1:1/nodb", "mysql://nobody@127.0.0.1:1/nodb", "sqlite:relative.db"]


def test_every_bad_storage_is_refused_before_run_json(tmp_path: Path) -> None:
    for i, url in enumerate(bad_urls(tmp_path)):
        run_dir = tmp_path / f"run{i}"
        cfg = SearchConfig(space="default", run_dir=str(run_dir), storage=url, proxy="naswot")
        with pytest.raises(UserError) as e:
            prepare(cfg, "name: x")
        assert "--storage" in str(e.value) and "Allowed:" in str(e.value), (url, str(e.value))
        assert not run_dir.exists(), url


def test_good_storages_pass(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    for url in (f"sqlite:///{run_dir / 'sub' / 'study.db'}", f"journal:{run_dir / 'j.log'}",
                f"sqlite:///{tmp_path / 'x.db'}", f"journal:///{tmp_path / 'j.log'}"):
        check_storage_url(url, run_dir)
    assert not run_dir.exists()


def test_unreachable_server_is_refused_quickly_naming_why() -> None:
    import time

    for url in ("postgresql://nobody@127.0.0.1:1/nodb", "mysql+pymysql://nobody@127.0.0.1:1/nodb"):
        start = time.monotonic()
        with pytest.raises(UserError) as e:
            check_storage_url(url)
        assert time.monotonic() - start < 10
        msg = str(e.value)
        assert "driver is not installed" in msg or "cannot connect" in msg, msg


@pytest.mark.parametrize("url", ["foo://bar", "sqlite:///:memory:", "journal:"])
def test_cli_bad_storage_exits_2_and_leaves_nothing(url: str, tmp_path: Path, capsys: Any) -> None:
    run_dir = tmp_path / "run"
    code, err = run_cli(["search", "--run-dir", str(run_dir), "--proxy", "naswot", "--budget", "1",
                         "--storage", url], capsys)
    assert code == 2 and "--storage" in err and "Traceback" not in err, err
    assert not run_dir.exists()


@pytest.mark.parametrize("flags,expect", [
    (["--seed", "-1"], "--seed"), (["--seed", str(2**64)], "--seed"), (["--heartbeat", "-1"], "--heartbeat"),
    (["--trial-timeout", "garbage"], "--trial-timeout"), (["--trial-timeout", "0"], "--trial-timeout"),
    (["--trial-memory", "-5"], "--trial-memory"), (["--objectives", "accuracy,accuracy"], "--objectives"),
    (["--objectives", "accuracy,latency_ms,latency_ms"], "--objectives"), (["--target", "ort-cpu@b0"], "@b0"),
])
def test_bad_flags_exit_2_naming_the_flag(flags: list[str], expect: str, tmp_path: Path, capsys: Any) -> None:
    run_dir = tmp_path / "run"
    code, err = run_cli(["search", "--run-dir", str(run_dir), "--proxy", "naswot", "--budget", "1", *flags], capsys)
    assert code == 2 and expect in err and "Traceback" not in err, err
    assert "--time-budget" not in err
    assert not run_dir.exists()


def test_reader_on_a_missing_journal_creates_nothing(tmp_path: Path, capsys: Any) -> None:
    import json

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    missing = tmp_path / "gone" / "j.log"
    cfg = SearchConfig(space="default", run_dir=str(run_dir), proxy="naswot")
    meta = {"format": 1, "config": cfg.as_dict(), "storage": f"journal:{missing}", "study_name": "hynas",
            "space_yaml": "", "space_sha": ""}
    (run_dir / "run.json").write_text(json.dumps(meta))
    before = sorted(os.listdir(tmp_path))
    for cmd in (["export", str(run_dir), "--out", str(tmp_path / "out")], ["plot", str(run_dir)],
                ["report", str(run_dir)]):
        code, err = run_cli(cmd, capsys)
        assert code == 2 and "Traceback" not in err, (cmd, err)
    assert sorted(os.listdir(tmp_path)) == before and not missing.parent.exists()


