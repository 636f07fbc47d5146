"""The Ray backend on a local 2-worker instance: budget finished, a killed worker loses no finished trial."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import SHARED_DATA

TABLE = SHARED_DATA / "nb201_cifar10.csv"
pytestmark = pytest.mark.skipif(not TABLE.is_file(), reason=f"NAS-Bench-201 table not found at {TABLE}")
optuna.logging.set_verbosity(optuna.logging.ERROR)


def _worker_pids(study: optuna.Study) -> set[int]:
    return {t.user_attrs["worker"]["pid"] for t in study.get_trials(deepcopy=False) if "worker" in t.user_attrs}


@pytest.mark.slow
def test_ray_two_workers_survive_a_killed_worker(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from hynas.search.engine import Search
    from hynas.search.ray_backend import init_ray, run_ray
    from hynas.search.samplers import make_sampler
    from hynas.search.tabular import NB201Table, TabularProblem

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
                    pid = sorted(pids)[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        run_ray(search, type("Cfg", (), {"workers": 2, "ray_address": None})())
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
    ray = pytest.importorskip("ray")
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
