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


def test_sigint_finishes_the_current_trial_and_saves(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = start(search_argv(write_space(tmp_path), run_dir, 50), tmp_path / "log")
    try:
        assert wait_for(proc, lambda: evaluating(trials(run_dir))), (tmp_path / "log").read_text()[-2000:]
        running = [t.number for t in trials(run_dir) if t.state.name == "RUNNING"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=240) == 0
    finally:
        proc.kill()
        proc.wait()
    log = (tmp_path / "log").read_text()
    assert "stopped by the user (SIGINT) after the current trial" in log and "Traceback" not in log
    ts = {t.number: t for t in trials(run_dir)}
    assert all(ts[n].state.name == "COMPLETE" for n in running), "the trial in progress was not finished"
    assert not any(t.state.name == "RUNNING" for t in ts.values())
    assert 1 <= len(evaluated(list(ts.values()))) < 50


def _kill_and_resume(tmp_path: Path, budget: int, kill_points: list[Any]) -> dict[str, int]:
    """Run the same command, SIGKILLing it at each kill point, until it completes the budget."""
    space, run_dir = write_space(tmp_path), tmp_path / "run"
    kept: dict[int, tuple] = {}
    stats = {"runs": 0, "kills": 0, "mid_trial_kills": 0}
    for point in kill_points + [None]:
        stats["runs"] += 1
        log = tmp_path / f"log{stats['runs']}"
        proc = start(search_argv(space, run_dir, budget), log)
        try:
            if point is None:
                assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
                break
            if point == "mid-trial":
                n = len(evaluated(trials(run_dir)))
                hit = wait_for(proc, lambda: evaluating(trials(run_dir)) and len(evaluated(trials(run_dir))) >= n)
            else:  # seconds after start (may land in start-up, mid-trial or between trials)
                hit = wait_for(proc, lambda: False, timeout_s=point) or proc.poll() is None
            if hit and proc.poll() is None:
                stats["kills"] += 1
                stats["mid_trial_kills"] += evaluating(trials(run_dir))
                proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None and point is None:
                proc.kill()
            proc.wait()  # reap it: the engine tells dead owners by PID
        for t in evaluated(trials(run_dir)):
            kept.setdefault(t.number, (t.user_attrs["hash"], t.state.name, t.values))
    final = trials(run_dir)
    done = evaluated(final)
    assert len(done) == budget, f"{len(done)} evaluated, budget {budget}"
    hashes = [t.user_attrs["hash"] for t in done]
    assert len(set(hashes)) == len(hashes), "an arch was evaluated twice"
    by_number = {t.number: t for t in final}
    for number, (h, state, values) in kept.items():  # every finished trial kept, unchanged
        t = by_number[number]
        assert (t.user_attrs["hash"], t.state.name, t.values) == (h, state, values)
    assert not any(t.state.name == "RUNNING" for t in final)
    stats["interrupted_trials"] = sum(t.user_attrs.get("fail_reason") == "interrupted" for t in final)
    return stats


def test_sigkill_mid_trial_then_resume(tmp_path: Path) -> None:
    stats = _kill_and_resume(tmp_path, budget=2, kill_points=["mid-trial"])
    assert stats["kills"] == 1 and stats["interrupted_trials"] == stats["mid_trial_kills"] == 1


@pytest.mark.slow
def test_sigkill_soak(tmp_path: Path) -> None:
    rng = random.Random(8)
    points: list[Any] = ["mid-trial", "mid-trial"] + [round(rng.uniform(1.0, 25.0), 1) for _ in range(6)]
    stats = _kill_and_resume(tmp_path, budget=8, kill_points=points)
    assert stats["kills"] >= 6 and stats["interrupted_trials"] == stats["mid_trial_kills"]


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
@pytest.mark.xfail(reason="engine.Search counts the budget and de-duplicates per process: two writers with "
                          "the same seed evaluate the same archs and twice the budget (see docs/RELIABILITY.md)",
                   strict=False)
def test_two_processes_share_budget_and_dedup(tmp_path: Path) -> None:
    final, _ = _two_writers(tmp_path, 4)
    done = evaluated(final)
    assert len(done) <= 5
    assert len({t.user_attrs["hash"] for t in done}) == len(done)
