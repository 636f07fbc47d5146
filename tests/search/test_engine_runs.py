"""Real searches through the CLI: the default space end to end, budgets, resume after SIGKILL, journal storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from hynas.cli import main
from hynas.results.trials import load_run
from tests.conftest import NB201_TABLE, REPO

optuna.logging.set_verbosity(optuna.logging.ERROR)
TABLE = NB201_TABLE


def _hynas(*args: str) -> list[str]:
    return [sys.executable, "-m", "hynas", *args]


def _env() -> dict[str, str]:
    return dict(os.environ, HYNAS_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def test_default_space_end_to_end(tmp_path: Path) -> None:
    """A real search: sample, build, time on onnxruntime, train, tell; the results reader sees it all."""
    rd = tmp_path / "run"
    out = subprocess.run(_hynas("search", "--run-dir", str(rd), "--budget", "2", "--train-steps", "8",
                                "--constraint", "latency_ms<=1000"),
                         capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    assert "budget of 2 evaluated candidates reached" in out.stdout
    run = load_run(rd)
    done = run.complete()
    assert len(done) + sum(t.kind == "failed" for t in run.trials) == 2  # rule rejections are not evaluated
    for t in done:
        assert set(t.values) == {"accuracy", "latency_ms"} and t.arch is not None
        assert {"hash", "summary", "latency", "latency_method", "params", "macs"} <= set(t.attrs)
        assert t.attrs["constraints"] == {"latency_ms<=1000": pytest.approx(t.values["latency_ms"] - 1000)}
        assert t.attrs["feasible"] is True


def _complete(rd: Path) -> int:
    try:
        return len(load_run(rd).complete())
    except Exception:  # noqa: BLE001 - the run may not exist yet
        return 0


def test_resume_after_sigkill_keeps_every_finished_trial_once(tmp_path: Path) -> None:
    BUDGET = 12  # room to be killed mid-run however fast candidates are
    rd = tmp_path / "run"
    cmd = _hynas("search", "--run-dir", str(rd), "--budget", str(BUDGET), "--proxy", "naswot", "--sampler", "random")
    log = tmp_path / "first.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=REPO)
    deadline = time.monotonic() + 300
    while _complete(rd) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, f"the search ended before the kill (exit {proc.returncode}):\n{log.read_text()[-3000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.attrs["hash"]: t.number for t in load_run(rd).complete()}
    assert 2 <= len(before) < BUDGET  # killed mid-run (a trial takes ~0.3 s with predicted latency)
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    run = load_run(rd)
    after = run.complete()
    hashes = [t.attrs["hash"] for t in after]
    assert len(after) == BUDGET and len(set(hashes)) == BUDGET  # budget completed, no arch evaluated twice
    assert all({t.attrs["hash"]: t.number for t in after}[h] == n for h, n in before.items())  # kept as they were
    assert not [t for t in run.trials if t.state == "RUNNING"]


def test_budget_time_budget_and_journal_storage(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rd = tmp_path / "nb"
    base = ["search", "--table", str(TABLE), "--run-dir", str(rd), "--sampler", "evolution",
            "--storage", f"journal:{tmp_path / 'journal.log'}", "--constraint", "latency_ms<=9"]
    main(base + ["--budget", "30"])
    assert "budget of 30 evaluated candidates reached" in capsys.readouterr().out
    main(base + ["--budget", "1000000", "--time-budget", "2s"])  # resumes, stops on time
    out = capsys.readouterr().out
    assert "time budget of 2 s spent" in out
    run = load_run(rd)
    n = len(run.complete())
    assert n > 30 and len({t.attrs["hash"] for t in run.complete()}) == n
    assert all(t.attrs["feasible"] == (t.values["latency_ms"] <= 9) for t in run.complete())
    assert (tmp_path / "journal.log").stat().st_size > 0 and not (rd / "study.db").exists()


def test_run_dir_refuses_other_constraints(tmp_path: Path) -> None:
    from hynas.errors import UserError
    from hynas.search import SearchConfig, run_search

    cfg = {"space": "default", "run_dir": str(tmp_path), "table": str(TABLE), "budget": 3, "sampler": "random"}
    run_search(SearchConfig(**cfg))
    with pytest.raises(UserError, match="constraints"):
        run_search(SearchConfig(**cfg, constraints=("latency_ms<=3",)))


def test_rdb_heartbeat_fails_stale_trials_of_a_dead_host(tmp_path: Path) -> None:
    """A RUNNING trial another host left behind is failed after its grace period, and does not count."""
    from hynas.search import SearchConfig, run_search
    from hynas.search.storage.rundir import make_storage

    url = f"sqlite:///{tmp_path / 'hb.db'}"
    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "r"), table=str(TABLE), budget=3, sampler="random",
                       storage=url, heartbeat_s=1, objectives=("accuracy", "latency_ms"))
    run_search(cfg)
    study = optuna.load_study(study_name="hynas", storage=make_storage(url, 1))
    ghost = study.ask()
    ghost.set_user_attr("owner", {"host": "another-host", "pid": 1})
    study._storage.record_heartbeat(ghost._trial_id)
    time.sleep(5)  # grace period 4 s
    summary = run_search(SearchConfig(**{**cfg.__dict__, "budget": 5}))
    states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
    assert states[ghost.number] == "FAIL" and summary.complete == 5


def test_cli_single_objective_defaults_to_robust_and_counts_effective_cells(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """`--objectives accuracy` on the table: the default sampler is robust, and two cells that differ only on
    edges that cannot reach the output are one network (evaluated once)."""
    from hynas.nb201 import effective_ops
    from hynas.nb201 import to_string as arch_str
    from hynas.search.storage.rundir import read_meta

    rd = tmp_path / "so"
    main(["search", "--table", str(TABLE), "--objectives", "accuracy", "--budget", "25", "--run-dir", str(rd)])
    assert "budget of 25 evaluated candidates reached" in capsys.readouterr().out
    assert read_meta(rd)["config"]["sampler"] == "robust"
    run = load_run(rd)
    done = run.complete()
    assert len(done) == 25 and all(set(t.values) == {"accuracy"} for t in done)
    assert len({t.attrs["hash"] for t in done}) == 25
    # node 3 fed only from node 1, and node 2 feeding nothing: edges into/out of node 2 are dead
    ops = ("nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none", "nor_conv_1x1", "none")
    assert effective_ops(ops) == ("nor_conv_3x3", "none", "none", "none", "nor_conv_1x1", "none")
    assert arch_str(effective_ops(("none",) * 6)) == arch_str(effective_ops(("nor_conv_3x3",) * 3 + ("none",) * 3))


def test_unknown_rdb_schema_takes_optunas_public_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    """The bulk row writes know one Optuna schema; with any other the same run goes through RDBStorage's
    own API and stores the same kind of study (a future Optuna must not get hand-written rows)."""
    from hynas.search.storage import mirror

    runs = {}
    for name, known in (("bulk", mirror.KNOWN_RDB_SCHEMAS), ("public", ())):
        monkeypatch.setattr(mirror, "KNOWN_RDB_SCHEMAS", known)
        rd = tmp_path / name
        main(["search", "--table", str(TABLE), "--budget", "12", "--seed", "1", "--run-dir", str(rd)])
        assert "budget of 12 evaluated candidates reached" in capsys.readouterr().out
        done = load_run(rd).complete()
        runs[name] = sorted((t.attrs["hash"], tuple(sorted(t.values.items()))) for t in done)
        assert len(done) == 12
    assert runs["bulk"] == runs["public"]


def test_a_reader_never_writes_the_schema_of_a_study_being_created(tmp_path: Path) -> None:
    """`load_run` while a search starts must not create the SQLite file or its tables (it would race the search
    creating them, and the search could die before its first trial); it says the study is not there yet."""
    import sqlite3

    from hynas.errors import UserError
    from hynas.search.storage.rundir import default_storage, open_study

    db = tmp_path / "study.db"
    meta = {"storage": default_storage(tmp_path), "study_name": "hynas",
            "config": {"objectives": ["accuracy", "latency_ms"]}}
    with pytest.raises(UserError, match="yet"):
        open_study(meta)
    assert not db.exists()
    sqlite3.connect(db).close()  # the search has created the file, not yet the schema
    with pytest.raises(UserError, match="yet"):
        open_study(meta)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    open_study(meta, create=True)
    assert open_study(meta).study_name == "hynas"
