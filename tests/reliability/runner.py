"""Drive real `python -m hynas search` processes and read their study back (interruption tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

TINY_SPACE = """\
name: tiny
input: {channels: 1, resolution: 32, classes: 10}
stem:
  width: [8, 16]
  blocks: {conv_stem: {kernel: 3, reduction: 2}}
stages:
  - name: s1
    width: [8, 16]
    downsample: none
    depth: [1, 2]
    blocks: [mbconv, convnext]
head: pool_linear
"""


def write_space(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_SPACE)
    return p


def search_argv(space: Path, run_dir: Path, budget: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hynas", "search", "--space", str(space), "--run-dir", str(run_dir),
            "--budget", str(budget), "--target", "torch-cpu", "--train-steps", "1", "--sampler", "random",
            "--seed", "0", *extra]


def start(argv: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), HYNAS_THREADS="1")
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def trials(run_dir: Path, storage: str | None = None) -> list[Any]:
    """The run's trials as stored now (empty while the study does not exist yet)."""
    import optuna

    from hynas.search.storage.rundir import open_study, read_meta

    if not (run_dir / "run.json").is_file():
        return []
    try:
        return open_study(read_meta(run_dir)).get_trials(deepcopy=True)
    except (KeyError, optuna.exceptions.StorageInternalError, Exception):  # noqa: BLE001 - not there yet
        return []


def evaluating(ts: list[Any], pid: int | None = None) -> bool:
    """A candidate is being evaluated (RUNNING with its arch stored), by process ``pid`` if given.

    A killed run's trial stays RUNNING until the next run recovers it, so "is the current
    process mid-trial" needs the owner check.
    """
    return any(t.state.name == "RUNNING" and "hash" in t.user_attrs
               and (pid is None or t.user_attrs.get("owner", {}).get("pid") == pid) for t in ts)


def evaluated(ts: list[Any]) -> list[Any]:
    return [t for t in ts if t.state.name == "COMPLETE" or
            (t.state.name == "FAIL" and t.user_attrs.get("fail_reason") != "interrupted")]


def wait_for(proc: subprocess.Popen, cond: Callable[[], bool], timeout_s: float = 240) -> bool:
    """Poll ``cond`` until it holds (True) or the process ends / time runs out (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.3)
    return False
