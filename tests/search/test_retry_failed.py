"""A failed trial carries its reason and phase; a resume never re-runs it; ``--retry-failed`` re-runs exactly
the failed trials as new trials and leaves the failed ones recorded.

Real searches (Optuna SQLite storage, latency timed on torch-cpu, one training step on the
digits data) over a one-decision space: a healthy block and one that fails while training
as long as a marker file exists (``tests/reliability/faulty.py``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from hynas.search import SearchConfig, run_search
from hynas.search.storage.rundir import open_study, read_meta
from tests.cli import run_cli
from tests.reliability.conftest import faulty_blocks  # noqa: F401 - the fixture
from tests.reliability.faulty import space_yaml


def _cfg(tmp_path: Path, budget: int = 2) -> SearchConfig:
    space = tmp_path / "flaky.yaml"
    space.write_text(space_yaml("mbconv", "rel_flaky"))
    return SearchConfig(space=str(space), run_dir=str(tmp_path / "run"), target="torch-cpu", budget=budget,
                        sampler="random", seed=0, train_steps=1)


def _trials(run_dir: str) -> list[Any]:
    return open_study(read_meta(run_dir)).get_trials(deepcopy=False)


def _evaluated(run_dir: str) -> list[tuple[int, str, str, Any]]:
    """(number, state, body block, retry_of) of every trial that was evaluated (complete or failed)."""
    return [(t.number, t.state.name, t.user_attrs["arch"]["stages"][0]["blocks"][0]["type"],
             t.user_attrs.get("retry_of")) for t in _trials(run_dir) if t.state.name in ("COMPLETE", "FAIL")
            and "rejected" not in t.user_attrs]


def test_failed_trial_reason_phase_and_retry(tmp_path: Path, faulty_blocks: dict, monkeypatch: Any,  # noqa: F811
                                             capsys: Any) -> None:
    marker = tmp_path / "broken"
    marker.write_text("x")
    monkeypatch.setenv("HYNAS_TEST_FLAKY", str(marker))
    cfg = _cfg(tmp_path)
    first = run_search(cfg)
    assert (first.evaluated, first.complete, first.failed) == (2, 1, 1)
    failed = next(t for t in _trials(cfg.run_dir) if t.state.name == "FAIL")
    a = failed.user_attrs
    assert a["fail_class"] == "RuntimeError" and a["fail_phase"] == "train"
    assert a["fail_message"] == "rel_flaky: transient failure while training"
    assert a["fail_reason"] == "RuntimeError: rel_flaky: transient failure while training"
    assert "RuntimeError: rel_flaky: transient failure while training (phase: train)" in first.reasons

    from hynas.cli import main

    capsys.readouterr()
    main(["results", cfg.run_dir])  # the reader groups it by phase and error
    out = capsys.readouterr().out
    assert "complete 1, failed 1" in out and "failed: 1 trials" in out and "--retry-failed" in out
    assert "1× [train] RuntimeError: rel_flaky: transient failure while training" in out

    again = run_search(cfg)  # a plain resume: the failed arch is not evaluated again
    assert again.evaluated == 0 and again.failed == 1
    marker.unlink()  # the transient cause is gone
    retried = run_search(cfg, retry_failed=True)
    assert retried.evaluated == 1 and "re-ran the 1 failed trials" in retried.stop_reason
    assert (retried.complete, retried.failed) == (2, 0)
    rows = _evaluated(cfg.run_dir)
    assert [(s, b, r) for _, s, b, r in rows].count(("FAIL", "rel_flaky", None)) == 1  # still recorded as failed
    assert ("COMPLETE", "rel_flaky", failed.number) in [(s, b, r) for _, s, b, r in rows]
    assert len(rows) == 3
    assert run_search(cfg, retry_failed=True).evaluated == 0  # nothing failed any more
    assert run_search(cfg).evaluated == 0  # and the budget of 2 archs is still spent, not 3


def test_retry_failed_needs_a_run(tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "nothing"
    code, err = run_cli(["search", "--run-dir", str(run), "--proxy", "naswot", "--retry-failed"], capsys)
    assert code == 2 and "--retry-failed" in err and str(run) in err, err


def test_non_finite_objective_is_a_failure_with_its_reason(tmp_path: Path) -> None:
    """An evaluation that returns NaN is FAIL with a reason and counted (Optuna alone would fail it without
    one, uncounted, and every resume would evaluate the arch again)."""
    import optuna

    from hynas.search.engine import Search
    from hynas.search.types import BaseProblem, Candidate, Evaluation

    class NanLatency(BaseProblem):
        """The first candidate evaluated gets a NaN latency."""

        first: str | None = None

        def propose(self, trial: Any) -> Candidate:
            k = trial.suggest_categorical("k", list("abcdefghij"))
            return Candidate(key=k, attrs={"hash": k}, payload=k)

        def evaluate(self, cand: Candidate, report: Any = None) -> Evaluation:
            self.first = self.first or cand.payload
            lat = math.nan if cand.payload == self.first else 1.0
            return Evaluation({"accuracy": 0.5, "latency_ms": lat}, {"train_seconds": 0.1})

    from hynas.search.backends import BACKENDS

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    problem = NanLatency()
    search = Search(study, problem, ("accuracy", "latency_ms"), 3)
    BACKENDS.get("local")(search)
    s = search.finish()
    assert (s.evaluated, s.complete, s.failed) == (3, 2, 1)
    bad = next(t for t in optuna.load_study(study_name=study.study_name, storage=url).trials if t.state.name == "FAIL")
    assert bad.user_attrs["fail_reason"] == "NonFiniteObjective: latency_ms = nan"
    assert bad.user_attrs["fail_phase"] == "latency"
    again = Search(optuna.load_study(study_name=study.study_name, storage=url), NanLatency(),
                   ("accuracy", "latency_ms"), 3)
    assert again.done == 3 and problem.first in again.seen


@pytest.mark.parametrize(("where", "phase"), [("hynas/build.py", "build"), ("hynas/blocks/conv.py", "build"),
                                              ("hynas/cost.py", "cost"), ("hynas/latency/measure.py", "latency"),
                                              ("hynas/proxy/trainer.py", "train"), ("hynas/proxy/zero_cost.py", "score")])
def test_phase_from_a_child_traceback(where: str, phase: str) -> None:
    """The text a trial's child process sends back names the phase as an in-process traceback would."""
    from hynas.search.failures import phase_of

    e = RuntimeError("x")
    e.child_traceback = ('Traceback (most recent call last):\n  File "/x/hynas/search/problems/evaluate.py", line 1, '  # type: ignore[attr-defined]
                         f'in score\n  File "/x/{where}", line 2, in f\n  File "/x/hynas/blocks/conv.py", line 3, in '
                         'forward\nRuntimeError: x\n')
    assert phase_of(e) == phase


def test_a_trial_failed_by_the_heartbeat_check_carries_its_reason(tmp_path: Path) -> None:
    """Optuna's stale-trial check fails another host's dead trial without a word; the search gives it its
    reason, and it counts as interrupted (not evaluated: its arch may be evaluated again)."""
    import time

    import optuna

    from hynas.search.storage.liveness import STALE
    from hynas.search.storage.rundir import make_storage
    from tests.search.test_engine_runs import TABLE

    url = f"sqlite:///{tmp_path / 'hb.db'}"
    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "r"), table=str(TABLE), budget=2, sampler="random",
                       storage=url, heartbeat_s=1, objectives=("accuracy", "latency_ms"))
    run_search(cfg)
    study = optuna.load_study(study_name="hynas", storage=make_storage(url, 1))
    ghost = study.ask()
    ghost.set_user_attr("owner", {"host": "another-host", "pid": 1})
    study._storage.record_heartbeat(ghost._trial_id)
    time.sleep(5)  # past the grace period of 4 beats
    summary = run_search(SearchConfig(**{**cfg.__dict__, "budget": 3}))
    t = study._storage.get_trial(ghost._trial_id)
    assert t.state.name == "FAIL" and t.user_attrs["fail_reason"] == STALE and summary.failed == 0
