"""Study rows no reader can use (NULL or deleted objective values, an arch that is not an arch) are skipped
with a counted note by every reader, and refused (exit 2) by a search that would resume on them.

The study is a real Optuna SQLite storage written by a real search (naswot, predicted latency); the
rows are then edited with sqlite3, as another tool or a hand edit would leave them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hynas.cli import main
from hynas.search import SearchConfig, run_search

EDITS = {  # name -> SQL on the first COMPLETE trial (:t), and how many trials the readers must skip
    "values deleted": ("DELETE FROM trial_values WHERE trial_id = :t", 1),
    "one value NULL": ("UPDATE trial_values SET value = NULL WHERE trial_id = :t AND objective = 1", 1),
    "one value missing": ("DELETE FROM trial_values WHERE trial_id = :t AND objective = 1", 1),
    "every value NULL": ("UPDATE trial_values SET value = NULL", 3),
    "arch a number": ("UPDATE trial_user_attributes SET value_json = '5' WHERE trial_id = :t AND key = 'arch'", 1),
    "value +inf": ("UPDATE trial_values SET value = NULL, value_type = 'INF_POS' WHERE trial_id = :t", 1),
}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: Any) -> Path:
    run = tmp_path_factory.mktemp("rows") / "base"
    assert run_search(_cfg(run, 3)).complete == 3
    return run


def _cfg(run: Path, budget: int) -> SearchConfig:
    return SearchConfig(space="default", run_dir=str(run), target="ort-cpu", budget=budget, sampler="random", seed=1,
                        proxy="naswot", measure=False)


def _edited(base: Path, tmp_path: Path, sql: str) -> Path:
    run = tmp_path / "run"
    shutil.copytree(base, run)
    meta = json.loads((run / "run.json").read_text())
    meta["config"]["run_dir"] = str(run)
    (run / "run.json").write_text(json.dumps(meta))
    con = sqlite3.connect(run / "study.db")
    t = con.execute("SELECT trial_id FROM trials WHERE state = 'COMPLETE' ORDER BY number LIMIT 1").fetchone()[0]
    con.execute(sql, {"t": t})
    con.commit()
    con.close()
    return run


def _files(run: Path) -> list[str]:
    """The run directory's files, less SQLite's own -wal/-shm files (any reader of a WAL database makes them)."""
    return sorted(p.name for p in run.iterdir() if not p.name.endswith(("-wal", "-shm")))


def _cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    got = capsys.readouterr()
    return code, got.out + got.err


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_readers_skip_unusable_rows_with_a_note(base_run: Path, tmp_path: Path, capsys: Any, edit: str) -> None:
    sql, skipped = EDITS[edit]
    run = _edited(base_run, tmp_path, sql)
    before = _files(run)
    code, out = _cli(["results", str(run)], capsys)
    assert code == 0, out
    assert f"note: skipped {skipped} stored trial" in out, out
    from hynas.results.trials import load_run

    r = load_run(run)
    assert sum(len(v) for v in r.skipped.values()) == skipped and len(r.complete()) == 3 - skipped
    for argv in (["plot", str(run), "--no-landmarks", "--out", str(tmp_path / "plot")],
                 ["report", str(run), "--no-landmarks", "--out", str(tmp_path / "report.html")],
                 ["export", str(run), "--out", str(tmp_path / "model.py")]):
        code, out = _cli(argv, capsys)
        if skipped == 3:  # nothing usable is left: a clean refusal, not a traceback
            assert code == 2 and "no completed trial" in out, out
        else:
            assert code == 0, out
    if skipped < 3:
        assert "skipped" in json.loads((tmp_path / "plot" / "pareto.json").read_text())["notes"][-1]
        assert "note: skipped" in (tmp_path / "report.html").read_text()
    assert _files(run) == before  # readers wrote nothing into the run


def test_search_refuses_to_resume_on_null_values(base_run: Path, tmp_path: Path) -> None:
    """A writer cannot resume where Optuna cannot read the rows: a UserError (exit 2), written nothing."""
    from hynas.errors import UserError

    run = _edited(base_run, tmp_path, EDITS["one value NULL"][0])
    before, meta = _files(run), (run / "run.json").read_bytes()
    with pytest.raises(UserError) as e:
        run_search(_cfg(run, 4))  # a larger budget: run.json would record it if it were rewritten first
    assert "study.db" in str(e.value) and "new --run-dir" in str(e.value)
    assert _files(run) == before and (run / "run.json").read_bytes() == meta


def test_search_resumes_past_a_complete_trial_without_values(base_run: Path, tmp_path: Path) -> None:
    """Values deleted (Optuna reads the trial, but it is not a valid COMPLETE trial): the resume goes on; the
    sampler does not learn from that trial and its arch is not evaluated again."""
    run = _edited(base_run, tmp_path, EDITS["values deleted"][0])
    s = run_search(_cfg(run, 4))
    assert s.evaluated == 1
