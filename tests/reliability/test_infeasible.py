"""A space with no feasible point is reported with the rule that rejected the candidates.

Up front (``hynas.space.sample`` / ``preflight`` raise ``InfeasibleSpace`` with counts per
rule), and during a search (it stops after ``MAX_CONSECUTIVE_SKIPS`` rejected draws in a
row, with each rejected trial carrying the rule that rejected it).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from hynas.errors import UserError
from hynas.search.problems.evaluate import limits_check, preflight
from hynas.space import InfeasibleSpace, load_space, sample, shipped_spaces
from tests.reliability.mutants import dump


def _space(tmp_path: Path, edit: Any) -> Path:
    doc = yaml.safe_load(shipped_spaces()["default"].read_text())
    edit(doc)
    path = tmp_path / "tight.yaml"
    path.write_text(dump(doc))
    return path


def _tiny_params(doc: dict) -> None:
    doc["rules"]["max_params"] = 1000  # far below the smallest net of the space


def _contradictory(doc: dict) -> None:
    """Stage 2 may only use attention, stage 3 only convolution, yet attention may never shrink."""
    doc["stages"][1]["blocks"] = {"mhsa": {"head_dim": [16]}}
    doc["stages"][2]["blocks"] = {"mbconv": {"expansion": [2]}}


@pytest.mark.parametrize("edit, rule", [(_tiny_params, "max_params"), (_contradictory, "asymmetric")])
def test_sampling_names_the_rule(edit: Any, rule: str, tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, edit))
    with pytest.raises(InfeasibleSpace) as info:
        sample(space, random.Random(0), check=limits_check(space), max_tries=60)
    text = str(info.value)
    assert f"most by: {rule} (" in text and "no feasible architecture in 60 samples" in text
    assert isinstance(info.value, UserError)  # the CLI shows it as one paragraph, exit code 2


def test_preflight_refuses_before_a_search_starts(tmp_path: Path) -> None:
    with pytest.raises(InfeasibleSpace, match=r"most by: max_params \("):
        preflight(load_space(_space(tmp_path, _tiny_params)), tries=50)
    preflight(load_space("default"), tries=50)  # a feasible space passes


def _search_infeasible(tmp_path: Path, monkeypatch: Any) -> tuple[Any, list[str]]:
    """The engine's own bound on rejected draws (the up-front preflight switched off to reach it)."""
    from hynas.search import SearchConfig, run_search
    from hynas.search.problems import evaluate
    from hynas.search.storage.rundir import open_study, read_meta

    monkeypatch.setattr(evaluate, "preflight", lambda space: None)

    cfg = SearchConfig(space=str(_space(tmp_path, _tiny_params)), run_dir=str(tmp_path / "run"), budget=3,
                       sampler="random", target="torch-cpu", train_steps=1)
    summary = run_search(cfg)
    study = open_study(read_meta(cfg.run_dir))
    return summary, [str(t.user_attrs.get("rejected")) for t in study.get_trials(deepcopy=False)]


def test_search_stops_after_a_bounded_number_of_rejections(tmp_path: Path, monkeypatch: Any) -> None:
    """The same loop as a user's search, with the bound lowered from 200 so the test takes seconds."""
    from hynas.search import engine

    monkeypatch.setattr(engine, "MAX_CONSECUTIVE_SKIPS", 12)
    _check_stopped(tmp_path, 12, monkeypatch)


def test_search_refuses_an_infeasible_space_before_writing_a_run(tmp_path: Path) -> None:
    from hynas.search import SearchConfig, run_search
    from hynas.space import InfeasibleSpace

    cfg = SearchConfig(space=str(_space(tmp_path, _tiny_params)), run_dir=str(tmp_path / "run"), budget=3,
                       sampler="random", target="torch-cpu", train_steps=1)
    with pytest.raises(InfeasibleSpace, match="max_params"):
        run_search(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_search_stops_after_max_consecutive_skips(tmp_path: Path, monkeypatch: Any) -> None:
    from hynas.search.engine import MAX_CONSECUTIVE_SKIPS

    _check_stopped(tmp_path, MAX_CONSECUTIVE_SKIPS, monkeypatch)


def _check_stopped(tmp_path: Path, bound: int, monkeypatch: Any) -> None:
    summary, reasons = _search_infeasible(tmp_path, monkeypatch)
    assert summary.evaluated == 0 and summary.rejected == bound
    assert "in a row" in summary.stop_reason and "too constrained" in summary.stop_reason
    assert len(reasons) == bound and all(r.startswith(("max_params", "asymmetric")) for r in reasons)
    assert sum(r.startswith("max_params") for r in reasons) > bound // 2


def test_search_stop_reason_names_the_rule(tmp_path: Path, monkeypatch: Any) -> None:
    from hynas.search import engine

    monkeypatch.setattr(engine, "MAX_CONSECUTIVE_SKIPS", 12)
    summary, _ = _search_infeasible(tmp_path, monkeypatch)
    assert "most rejected by: max_params" in summary.stop_reason
