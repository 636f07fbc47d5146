"""Ray Tune: hynas.tune's space function and outcome recording, `--backend tune` on a local Ray instance,
and a Ray address nothing answers at refused before anything is written (ray and tune backends)."""

from __future__ import annotations

import math
import socket
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.cli import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




@pytest.mark.parametrize("backend", ["ray", "tune"])
def test_nothing_listening_at_the_ray_address_is_exit_2_before_anything_is_written(
        backend: str, tmp_path: Path, capsys: Any) -> None:
    rd = tmp_path / "run"
    port = _free_port()  # bound and released: nothing listens there
    code, err = run_cli(["search", "--backend", backend, "--ray-address", f"127.0.0.1:{port}", "--budget", "2",
                         "--proxy", "naswot", "--run-dir", str(rd)], capsys)
    assert code == 2 and "Traceback" not in err, err
    assert f"--ray-address 127.0.0.1:{port}: nothing is listening there" in err and "ray start --head" in err
    assert not rd.exists()


def test_a_malformed_ray_address_is_refused(tmp_path: Path, capsys: Any) -> None:
    code, err = run_cli(["search", "--backend", "tune", "--ray-address", "localhost", "--run-dir",
                         str(tmp_path / "run")], capsys)
    assert code == 2 and "is not HOST:PORT" in err and not (tmp_path / "run").exists()


def test_tune_refuses_a_table_search(tmp_path: Path, capsys: Any) -> None:
    code, err = run_cli(["search", "--backend", "tune", "--table", "nb201-cifar10", "--run-dir",
                         str(tmp_path / "run")], capsys)
    assert code == 2 and "--backend tune searches a hynas space" in err and not (tmp_path / "run").exists()


def test_space_function_and_outcomes_on_a_real_study() -> None:
    """What OptunaSearch calls (define-by-run) and what the run's study gets for each kind of Tune result."""
    import hynas.tune as ht
    from hynas.space.arch import Arch

    study = optuna.create_study(directions=["maximize", "minimize"])
    define = ht.define_by_run("default")
    told = []
    for result, error in [({"accuracy": 0.5, "latency_ms": 1.5, "step": 16, "hynas_final": True,
                            ht.ATTRS_KEY: '{"latency_method": "predicted"}'}, False),
                          ({"accuracy": 0.2, "latency_ms": math.nan, "step": 4}, False),
                          ({"hynas_failed": "ValueError: boom", "step": 0}, False),
                          ({"hynas_rejected": "asymmetric: attention share falls", "step": 0}, False),
                          ({}, True)]:
        trial = study.ask()
        const = define(trial)
        assert Arch(const[ht.ARCH_KEY]).hash == trial.user_attrs["hash"] and trial.params
        told.append(ht.tell_outcome(study, trial, result, error, ["accuracy", "latency_ms"]))
    assert told == ["complete", "pruned", "failed", "rejected", "failed"]
    t = study.get_trials()
    assert t[0].state.name == "COMPLETE" and t[0].values == [0.5, 1.5] and t[0].user_attrs["latency_method"]
    assert t[1].state.name == "PRUNED" and t[1].user_attrs["pruned_at_step"] == 4
    assert t[2].state.name == "FAIL" and t[2].user_attrs["fail_reason"] == "ValueError: boom"
    assert t[3].state.name == "FAIL" and t[3].user_attrs["rejected"].startswith("asymmetric")
    assert "Tune trial raised" in t[4].user_attrs["fail_reason"]


@pytest.mark.slow
def test_tune_backend_runs_8_candidates_with_asha_into_the_run_directory(tmp_path: Path, capsys: Any) -> None:
    """A local Ray instance, 2 trials at once, ASHA on the training rungs; the run reads like any other."""
    from hynas.results.plots import plot_data
    from hynas.results.trials import load_run

    rd = tmp_path / "run"
    code, err = run_cli(["search", "--backend", "tune", "--workers", "2", "--train-steps", "16", "--budget", "8",
                         "--sampler", "random", "--run-dir", str(rd)], capsys)
    assert code == 0, err
    run = load_run(rd)
    kinds = [t.kind for t in run.trials]
    assert len(kinds) == 8 and kinds.count("complete") >= 1, kinds
    assert set(kinds) <= {"complete", "pruned", "rejected", "failed"}, kinds
    assert all(t.attrs.get("outcome") for t in run.trials) and (rd / "tune").is_dir()
    assert plot_data(run).metrics  # the plot reader takes a Tune run as it is
    assert sum("trial " in ln for ln in (rd / "search.log").read_text().splitlines()) == 8
