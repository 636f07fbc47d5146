"""The Ray backend on a local 2-worker instance: budget finished, a killed worker loses no finished trial."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import NB201_TABLE

TABLE = NB201_TABLE
optuna.logging.set_verbosity(optuna.logging.ERROR)


def _worker_pids(study: optuna.Study) -> set[int]:
    return {t.user_attrs["worker"]["pid"] for t in study.get_trials(deepcopy=False) if "worker" in t.user_attrs}


@pytest.mark.slow
def test_ray_two_workers_survive_a_killed_worker(tmp_path: Path) -> None:
    import ray

    from hynas.search.backends.ray_tasks import init_ray, run_ray
    from hynas.search.engine import Search
    from hynas.search.problems.tabular import NB201Table, TabularProblem
    from hynas.search.samplers import make_sampler

    init_ray(None, 2)
    try:
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", sampler=make_sampler("nsga2", 0, 2),
                                    directions=["maximize", "minimize"])
        problem = TabularProblem(NB201Table(TABLE), ("accuracy", "latency_ms"), delay_s=0.4)
        search = Search(study, problem, ("accuracy", "latency_ms"), budget=16)
        killed: list[int] = []

        def kill_one_worker() -> None:  # once a few trials are in, SIGKILL a worker busy on a candidate
            while len(killed) == 0 and search.done < search.budget:
                pids = _worker_pids(study)
                if search.done >= 4 and pids:
                    pid = min(pids)
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        run_ray(search, type("Cfg", (), {"workers": 2, "ray_address": None, "worker_cpus": 1.0, "worker_gpus": 0.0})())
        killer.join(timeout=10)
        done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        assert killed, "the test never killed a worker"
        assert len(done) == 16 and len({t.user_attrs["hash"] for t in done}) == 16
        assert not [t for t in study.get_trials(deepcopy=False) if t.state.name in ("RUNNING", "FAIL")]
        assert len(_worker_pids(study) - set(killed)) >= 1  # work went on in the other / a restarted worker
    finally:
        ray.shutdown()


def test_ray_cli_run_lands_in_the_same_study(tmp_path: Path) -> None:
    """Fast variant: `hynas search --backend ray --workers 2` fills the run directory the results reader uses."""
    import ray

    from hynas.cli import main
    from hynas.results.trials import load_run

    rd = tmp_path / "run"
    try:
        main(["search", "--table", str(TABLE), "--run-dir", str(rd), "--backend", "ray", "--workers", "2",
              "--budget", "8", "--sampler", "evolution"])
    finally:
        ray.shutdown()
    done = load_run(rd).complete()
    assert len(done) == 8 and all("worker" in t.attrs for t in done)


def test_rung_board_applies_the_local_rule() -> None:
    """The actor's decision equals ``behind_at_rung`` over the same peers; its own earlier rungs are not peers."""
    from hynas.search.backends.ray_tasks import RungBoard
    from hynas.search.pruning import behind_at_rung

    board = RungBoard({"stored:0": ({"10": 0.9}, 5e6), "stored:1": ({"10": 0.8}, 5e6)}, eta=3)
    assert board.report("local:7", 10, 0.5, 5e6) is True  # worst of 3 at equal cost: stopped
    assert board.report("local:8", 10, 0.95, 5e6) is False  # best: goes on
    assert board.report("local:9", 10, 0.5, 1e6) == behind_at_rung([(0.9, 5e6), (0.8, 5e6), (0.5, 5e6),
                                                                     (0.95, 5e6)], 0.5, 1e6, 3)
    assert board.report("local:8", 20, 0.96, 5e6) is False  # alone at a new rung: promoted


def test_pruned_outcome_pickles_whole() -> None:
    """A Ray worker returns the rung stop as a value: it must unpickle with its step, accuracy and measurements."""
    import pickle

    from hynas.search.types import Pruned

    p = pickle.loads(pickle.dumps(Pruned(30, 0.41, {"latency_ms": 1.5}, {"rungs": {"30": 0.41}})))
    assert (p.step, p.accuracy, p.values, p.attrs) == (30, 0.41, {"latency_ms": 1.5}, {"rungs": {"30": 0.41}})


def test_gpus_the_cluster_lacks_are_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Ray would queue a task asking for a missing GPU forever; the search refuses it up front."""
    import ray

    from hynas.cli import main

    try:
        with pytest.raises(SystemExit) as e:
            main(["search", "--table", str(TABLE), "--run-dir", str(tmp_path / "run"), "--backend", "ray",
                  "--workers", "1", "--worker-gpus", "1", "--budget", "2"])
    finally:
        ray.shutdown()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--worker-gpus 1" in err and "GPUs" in err


def test_prune_works_on_the_ray_backend(tmp_path: Path) -> None:
    """`--prune` with `--backend ray`: real short trainings on 2 workers, rungs decided by the shared board."""
    import ray

    from hynas.results.trials import load_run
    from hynas.search import SearchConfig, run_search

    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "run"), budget=6, sampler="random", seed=0,
                       proxy="train", train_steps=12, target="torch-cpu", measure=False, prune=True,
                       backend="ray", workers=2)
    try:
        summary = run_search(cfg)
    finally:
        ray.shutdown()
    assert summary.pruned >= 1, summary
    run = load_run(cfg.run_dir)
    trained = [t for t in run.trials if t.kind in ("complete", "pruned")]
    assert len(trained) == 6 and all(t.attrs.get("rungs") for t in trained)
    pruned = [t for t in trained if t.kind == "pruned"]
    assert all(str(t.attrs["pruned_at_step"]) in t.attrs["rungs"] and "latency_ms" in t.attrs["pruned_values"]
               for t in pruned)
