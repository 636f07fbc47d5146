"""--prune with --trial-timeout: a candidate trained in a child process still reports its rungs to the parent.

The child sends each intermediate accuracy over a pipe; the parent applies the pruning rule
(with the study) and answers; a stopped candidate finishes early in the child and is recorded
PRUNED. Same seed, same space: the isolated run must make exactly the decisions of the
in-process run (training is seeded, so the rung accuracies are the same).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.runner import write_space


def _count(n: int, hang_at: int = 0, report: object = None) -> tuple[str, int]:
    """Runs in the child: reports steps 1..n (value step/10), stops when told, hangs at ``hang_at``."""
    for step in range(1, n + 1):
        if step == hang_at:
            time.sleep(600)
        if report(step, step / 10):  # type: ignore[operator]
            return "stopped", step
    return "done", n


def test_child_reports_reach_the_parent_and_its_answer_stops_the_child() -> None:
    from hynas.search.backends.isolate import run_isolated

    seen: list[tuple[int, float]] = []

    def rule(step: int, value: float) -> bool:  # the parent's pruning rule
        seen.append((step, value))
        return step == 3

    assert run_isolated(_count, (10,), timeout_s=120, report=rule) == ("stopped", 3)
    assert seen == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert run_isolated(_count, (4,), timeout_s=120, report=lambda s, v: False) == ("done", 4)


def test_timeout_still_applies_while_reporting() -> None:
    from hynas.search.backends.isolate import TrialTimeout, run_isolated

    t0 = time.monotonic()
    with pytest.raises(TrialTimeout):
        run_isolated(_count, (10, 2), timeout_s=5, report=lambda s, v: False)
    assert time.monotonic() - t0 < 60


def _run(tmp_path: Path, name: str, **isolation: object) -> list[tuple]:
    from hynas.search import SearchConfig, run_search
    from hynas.search.storage.rundir import open_study, read_meta

    cfg = SearchConfig(space=str(write_space(tmp_path)), run_dir=str(tmp_path / name), budget=6, sampler="random",
                       seed=0, proxy="train", train_steps=12, target="torch-cpu", prune=True, **isolation)
    summary = run_search(cfg)
    assert summary.evaluated == 6 and summary.failed == 0, summary
    trials = open_study(read_meta(cfg.run_dir)).get_trials()
    return [(t.user_attrs["hash"], t.state.name, t.user_attrs.get("pruned_at_step"), t.user_attrs.get("rungs"))
            for t in trials if "rungs" in t.user_attrs]


@pytest.mark.slow
def test_prune_works_in_isolated_children(tmp_path: Path) -> None:
    isolated = _run(tmp_path, "iso", trial_timeout_s=300.0)
    assert any(state == "PRUNED" and step is not None for _, state, step, _ in isolated), isolated
    assert all(rungs for *_, rungs in isolated)  # every trained candidate reported its rungs through the pipe
    assert isolated == _run(tmp_path, "inproc")
