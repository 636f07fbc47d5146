"""The search side of the recipe: recorded in run.json, refused on resume if changed; --workers N in parallel."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]


def _search(tmp_path: Path, name: str, *extra: str) -> SimpleNamespace:
    """``hynas search`` as a user runs it (a fresh process), output and exit code."""
    cmd = [sys.executable, "-m", "hynas", "search", "--budget", "2", "--train-steps", "2", "--target", "torch-cpu",
           "--sampler", "random", "--run-dir", str(tmp_path / name), *extra]
    env = dict(os.environ, HYNAS_THREADS="1", PYTHONPATH=str(REPO), HYNAS_DATA=str(tmp_path / "data"))
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=600)
    return SimpleNamespace(exit_code=p.returncode, output=p.stdout + p.stderr)


def _intervals(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("select datetime_start, datetime_complete from trials where state = 'COMPLETE' "
                           "order by datetime_start").fetchall()


@pytest.mark.slow  # two real searches in fresh processes: ~20 s on a quiet 2-core machine, ~60 s busy
def test_recipe_in_run_json_refused_when_changed_and_workers_overlap(tmp_path: Path) -> None:
    res = _search(tmp_path, "a", "--batch-size", "16", "--workers", "2")
    assert res.exit_code == 0, res.output
    assert "recipe: 2 steps, batch 16" in res.output and "built, timed and exported at 32 px" in res.output
    cfg = json.loads((tmp_path / "a" / "run.json").read_text())["config"]
    assert cfg["recipe"]["batch_size"] == 16 and cfg["input_resolution"] == 32 and len(cfg["recipe_hash"]) == 16
    (_, end1), (second, _) = _intervals(tmp_path / "a" / "study.db")[:2]
    assert second < end1  # the second candidate started before the first finished: two in parallel
    changed = _search(tmp_path, "a", "--batch-size", "32")
    assert changed.exit_code == 2 and "different training recipe" in changed.output


@pytest.mark.parametrize(("flags", "message"), [
    (["--device", "cuda"], "no CUDA GPU"), (["--augment", "heavy"], "--augment: 'heavy'"),
    (["--dataset", "cifar10"], "Set HYNAS_DATA"), (["--proxy-resolution", "64", "--resolution", "32"], "at most 32"),
])
def test_bad_recipe_flags_exit_2_and_write_nothing(tmp_path: Path, flags: list[str], message: str) -> None:
    import torch

    if flags[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here (tests/proxy/test_device.py trains on it)")
    res = _search(tmp_path, "bad", *flags)
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "bad").exists()
