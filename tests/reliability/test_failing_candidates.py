"""Failing candidates: an exception, a NaN loss, an out-of-memory and a hanging candidate.

Each is provoked by a real test-only block (``faulty.py``) inside a real search (Optuna
storage, latency timed on torch-cpu, real training steps on the digits data). Every one
must end as a failed trial with its reason, the search must go on to the healthy
candidate, and the summary must count them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from hynas.search import SearchConfig, run_search
from hynas.search.backends.isolate import TrialCrashed, run_isolated
from hynas.search.storage.rundir import open_study, read_meta
from tests.reliability.faulty import space_yaml


def _search(tmp_path: Path, blocks: tuple[str, ...], **kw: Any) -> tuple[Any, dict[str, str]]:
    space = tmp_path / "faulty.yaml"
    space.write_text(space_yaml(*blocks))
    cfg = SearchConfig(space=str(space), run_dir=str(tmp_path / "run"), target="torch-cpu", budget=len(blocks),
                       sampler="random", seed=0, train_steps=1, **kw)
    summary = run_search(cfg)
    return summary, outcomes(cfg.run_dir)


def outcomes(run_dir: str) -> dict[str, str]:
    """Body block type of each evaluated trial -> 'complete' or its recorded failure reason."""
    from optuna.trial import TrialState

    study = open_study(read_meta(run_dir))
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        block = t.user_attrs["arch"]["stages"][0]["blocks"][0]["type"]
        out[block] = "complete" if t.state == TrialState.COMPLETE else t.user_attrs["fail_reason"]
    return out


def test_exception_and_nan_loss_in_process(tmp_path: Path, faulty_blocks: dict) -> None:
    summary, got = _search(tmp_path, ("mbconv", "rel_raise", "rel_nan"))
    assert got["mbconv"] == "complete"
    assert got["rel_raise"].startswith("ValueError: rel_raise: deliberate failure")
    assert "NaN loss at step 1" in got["rel_nan"]
    assert (summary.evaluated, summary.complete, summary.failed) == (3, 1, 2)
    assert sum(summary.failures.values()) == 2


def test_hang_and_out_of_memory_isolated(tmp_path: Path, faulty_blocks: dict) -> None:
    """Per-trial child processes: a hang and a memory blow-up each fail one trial, not the search."""
    summary, got = _search(tmp_path, ("rel_oom", "rel_hang"), trial_timeout_s=5, trial_memory_mb=256)
    assert got["rel_oom"].startswith("TrialOutOfMemory: exceeded the 256 MB memory cap")
    assert got["rel_hang"].startswith("TrialTimeout: exceeded 5 s")
    assert (summary.evaluated, summary.complete, summary.failed) == (2, 0, 2)
    assert summary.failures == {"TrialOutOfMemory": 1, "TrialTimeout": 1}


@pytest.mark.slow
def test_every_failure_kind_isolated(tmp_path: Path, faulty_blocks: dict) -> None:
    """All four failure kinds and a healthy candidate in one isolated search."""
    blocks = ("mbconv", "rel_raise", "rel_nan", "rel_oom", "rel_hang")
    summary, got = _search(tmp_path, blocks, trial_timeout_s=20, trial_memory_mb=512)
    assert set(got) == set(blocks)
    assert got["mbconv"] == "complete"
    assert got["rel_raise"].startswith("ValueError: rel_raise: deliberate failure")
    assert "NaN loss at step 1" in got["rel_nan"]
    assert got["rel_oom"].startswith("TrialOutOfMemory: exceeded the 512 MB memory cap")
    assert got["rel_hang"].startswith("TrialTimeout: exceeded 20 s")
    assert (summary.evaluated, summary.complete, summary.failed) == (5, 1, 4)
    assert {"TrialOutOfMemory", "TrialTimeout", "ValueError"} <= set(summary.failures)


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_native_crash_and_early_exit_are_reasons() -> None:
    with pytest.raises(TrialCrashed, match=r"killed by signal 11 \(SIGSEGV\)"):
        run_isolated(_segfault, timeout_s=30)
    with pytest.raises(TrialCrashed, match="exited with code 7 without a result"):
        run_isolated(os._exit, (7,), timeout_s=30)
    assert run_isolated(sum, ([1, 2, 3],), timeout_s=30) == 6



def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0


@pytest.mark.slow
def test_a_killed_search_leaves_no_orphan_trial(tmp_path: Path) -> None:
    """SIGKILL the process that waits on an isolated trial: the trial's process must go too."""
    import subprocess
    import sys
    import time

    from tests.reliability.runner import REPO, wait_for

    pid_file = tmp_path / "child.pid"
    code = ("from hynas.search.backends.isolate import run_isolated\nfrom tests.reliability.faulty import sleep_forever\n"
            f"run_isolated(sleep_forever, ({str(pid_file)!r},), timeout_s=900)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert wait_for(proc, pid_file.exists, timeout_s=300)
        child = int(pid_file.read_text())
        assert not _gone(child)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    end = time.monotonic() + 30
    while not _gone(child) and time.monotonic() < end:
        time.sleep(0.2)
    assert _gone(child), f"trial process {child} outlived its search"
