"""Interruption: SIGINT finishes the current trial and saves; SIGKILL then the same command resumes.

Real `python -m hynas search` processes on a tiny space (torch-cpu latency, one training
step) are signalled at chosen moments; the study is read back from its storage after
each. Every finished trial must be kept exactly once and the budget completed.
"""

from __future__ import annotations

import random
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.runner import evaluated, evaluating, search_argv, start, trials, wait_for, write_space


def _mid_trial(proc: Any, run_dir: Path) -> bool:
    """Wait until this process is evaluating a candidate."""
    return wait_for(proc, lambda: evaluating(trials(run_dir), proc.pid))


def _sigint(proc: Any, run_dir: Path, log: Path, stats: dict[str, int]) -> None:
    """Ctrl-C mid-trial: the trial must finish and be stored, the process exit 0 with its message."""
    assert _mid_trial(proc, run_dir), log.read_text()[-2000:]
    running = [t.number for t in trials(run_dir) if t.state.name == "RUNNING"
               and t.user_attrs.get("owner", {}).get("pid") == proc.pid]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "stopped by the user (SIGINT) after the current trial" in text and "Traceback" not in text
    states = {t.number: t.state.name for t in trials(run_dir)}
    assert all(states[n] == "COMPLETE" for n in running), "the trial in progress was not finished"
    stats["sigints"] += 1


def _sigkill(proc: Any, point: Any, run_dir: Path, stats: dict[str, int]) -> None:
    """SIGKILL mid-trial, or after ``point`` seconds (start-up, mid-trial or between trials)."""
    hit = _mid_trial(proc, run_dir) if point == "mid-trial" else (
        wait_for(proc, lambda: False, timeout_s=point) or proc.poll() is None)
    if hit and proc.poll() is None:
        stats["kills"] += 1
        stats["mid_trial_kills"] += evaluating(trials(run_dir), proc.pid)
        proc.send_signal(signal.SIGKILL)


def _interrupt_and_resume(tmp_path: Path, budget: int, points: list[Any], *extra: str) -> dict[str, int]:
    """Run the same command, interrupting it at each point ("sigint", "mid-trial" or seconds for a
    SIGKILL), then once more to completion; check every finished trial was kept exactly once."""
    space, run_dir = write_space(tmp_path), tmp_path / "run"
    kept: dict[int, tuple] = {}
    stats = {"runs": 0, "kills": 0, "mid_trial_kills": 0, "sigints": 0}
    for point in points + [None]:
        stats["runs"] += 1
        log = tmp_path / f"log{stats['runs']}"
        proc = start(search_argv(space, run_dir, budget, *extra), log)
        try:
            if point is None:
                assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
            elif point == "sigint":
                _sigint(proc, run_dir, log, stats)
            else:
                _sigkill(proc, point, run_dir, stats)
        finally:
            if proc.poll() is None and point is None:
                proc.kill()
            proc.wait()  # reap it: the engine tells dead owners by PID
        for t in evaluated(trials(run_dir)):
            kept.setdefault(t.number, (t.user_attrs["hash"], t.state.name, t.values))
    _check_final(trials(run_dir), budget, kept)
    stats["interrupted_trials"] = sum(t.user_attrs.get("fail_reason") == "interrupted" for t in trials(run_dir))
    return stats


def _check_final(final: list[Any], budget: int, kept: dict[int, tuple]) -> None:
    done = evaluated(final)
    assert len(done) == budget, f"{len(done)} evaluated, budget {budget}"
    hashes = [t.user_attrs["hash"] for t in done]
    assert len(set(hashes)) == len(hashes), "an arch was evaluated twice"
    by_number = {t.number: t for t in final}
    for number, (h, state, values) in kept.items():  # every finished trial kept, unchanged
        t = by_number[number]
        assert (t.user_attrs["hash"], t.state.name, t.values) == (h, state, values)
    assert not any(t.state.name == "RUNNING" for t in final)


def test_sigkill_then_sigint_then_resume(tmp_path: Path) -> None:
    """Killed mid-trial, resumed and Ctrl-C'd mid-trial, resumed again: the budget completes exactly."""
    stats = _interrupt_and_resume(tmp_path, budget=2, points=["mid-trial", "sigint"])
    assert stats["kills"] == 1 and stats["sigints"] == 1
    assert stats["interrupted_trials"] == stats["mid_trial_kills"] == 1


@pytest.mark.slow
def test_sigkill_soak(tmp_path: Path) -> None:
    rng = random.Random(8)
    points: list[Any] = ["mid-trial", "mid-trial"] + [round(rng.uniform(1.0, 25.0), 1) for _ in range(6)]
    points.insert(3, "sigint")
    # each candidate timed on the target (not predicted: milliseconds) and trained 200 steps, so the 8 of them
    # outlast the kill points, 1-25 s into a run (the tiny space holds only 16 archs: the budget cannot grow)
    stats = _interrupt_and_resume(tmp_path, 8, points, "--measure", "--train-steps", "200")
    # a kill between ask() and storing the arch also leaves an 'interrupted' trial, so >= not ==
    assert stats["kills"] >= 6 and stats["mid_trial_kills"] <= stats["interrupted_trials"] <= stats["kills"]
    (tmp_path / "stats.txt").write_text(repr(stats))


def _two_writers(tmp_path: Path, budget: int) -> tuple[list[Any], list[str]]:
    space, run_dir = write_space(tmp_path), tmp_path / "run"
    argv = search_argv(space, run_dir, budget, "--storage", f"journal:{tmp_path / 'study.journal'}")
    procs = [start(argv, tmp_path / f"log{i}") for i in range(2)]
    try:
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    logs = [(tmp_path / f"log{i}").read_text() for i in range(2)]
    assert codes == [0, 0], [log[-2000:] for log in logs]
    return trials(run_dir), logs


@pytest.mark.slow
def test_two_processes_share_one_journal(tmp_path: Path) -> None:
    """Two searches writing one journal at once lose nothing: each one's evaluations are all stored."""
    final, logs = _two_writers(tmp_path, 3)
    assert not any(t.state.name == "RUNNING" for t in final)
    done = evaluated(final)
    assert all(t.values is not None for t in done if t.state.name == "COMPLETE")
    per_owner: dict[int, int] = {}
    for t in done:
        per_owner[t.user_attrs["owner"]["pid"]] = per_owner.get(t.user_attrs["owner"]["pid"], 0) + 1
    reported = sorted(int(re.search(r"evaluated (\d+) candidates in", log).group(1)) for log in logs)
    assert sorted(per_owner.values()) == reported, (per_owner, reported)


@pytest.mark.slow
def test_two_processes_share_budget_and_dedup(tmp_path: Path) -> None:
    """Two writers with the same seed (so they propose the same archs in the same order) and --budget 4
    finish with 4 evaluated in all, none twice: the budget and de-duplication are the study's, not each
    process's; the candidates each one withdrew are recorded (duplicate_of / over_budget)."""
    final, logs = _two_writers(tmp_path, 4)
    done = evaluated(final)
    assert len(done) == 4, [(t.number, t.state.name, t.user_attrs.get("owner")) for t in final]
    assert len({t.user_attrs["hash"] for t in done}) == len(done)
    reported = sum(int(re.search(r"evaluated (\d+) candidates in", log).group(1)) for log in logs)
    assert reported == 4, logs
    assert all("budget of 4 evaluated candidates reached" in log for log in logs), logs
