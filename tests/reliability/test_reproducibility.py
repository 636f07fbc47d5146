"""Reproducibility: the same command with the same seed gives the same trials.

Two searches with the same settings (one in-process, one with per-trial child processes,
which must not change a score) propose the same archs in the same order and train them
to the same accuracies; only measured latency differs (timing noise). The run directory
records what is needed to re-run: versions, seed, the resolved space and the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hynas.search import SearchConfig, run_search
from hynas.search.storage.rundir import open_study, read_meta
from tests.reliability.runner import write_space

BUDGET = 2


def _trials(run_dir: str) -> list[tuple]:
    study = open_study(read_meta(run_dir))
    return [(t.number, t.state.name, t.user_attrs.get("hash"), t.values[0] if t.values else None,
             t.user_attrs.get("train_loss")) for t in study.get_trials(deepcopy=False)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: Any) -> tuple[SearchConfig, SearchConfig]:
    root = tmp_path_factory.mktemp("repro")
    space = write_space(root)
    base = {"space": str(space), "target": "torch-cpu", "budget": BUDGET, "seed": 3, "train_steps": 1}
    a = SearchConfig(run_dir=str(root / "a"), **base)
    b = SearchConfig(run_dir=str(root / "b"), trial_timeout_s=300, **base)  # isolated: a child per trial
    run_search(a)
    run_search(b)
    return a, b


def test_same_seed_same_trials(two_runs: tuple[SearchConfig, SearchConfig]) -> None:
    a, b = two_runs
    ta, tb = _trials(a.run_dir), _trials(b.run_dir)
    assert sum(t[1] == "COMPLETE" for t in ta) == BUDGET
    assert ta == tb  # same archs, same order, same accuracy and training loss


def test_run_json_records_what_a_rerun_needs(two_runs: tuple[SearchConfig, SearchConfig]) -> None:
    a, _ = two_runs
    meta = read_meta(a.run_dir)
    assert meta["config"]["seed"] == 3 and meta["config"]["sampler"] == a.sampler
    assert meta["space_yaml"] == Path(a.space).read_text()
    for pkg in ("hynas", "python", "torch", "optuna", "numpy", "onnxruntime"):
        assert meta["versions"].get(pkg) not in (None, "", "missing"), pkg


def test_run_json_records_the_machine(two_runs: tuple[SearchConfig, SearchConfig]) -> None:
    meta = read_meta(two_runs[0].run_dir)
    assert meta["fingerprint"].get("cpu_model") and meta["fingerprint"].get("cpu_count")
