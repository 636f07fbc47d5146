"""Rung-pruned trials on a real short-training search: drawn at the accuracy they stopped at and the latency
measured before training, never in the front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_pruned_trials_are_drawn_apart_and_reported(tmp_path: Path) -> None:
    from hynas.results.plots import plot_data, plot_run
    from hynas.results.report import build_report
    from hynas.results.trials import load_run
    from hynas.search import SearchConfig, run_search

    cfg = SearchConfig(space="default", run_dir=str(tmp_path / "run"), budget=5, sampler="random", seed=0,
                       proxy="train", train_steps=12, target="torch-cpu", prune=True)
    summary = run_search(cfg)
    assert summary.pruned >= 1, summary
    run = load_run(cfg.run_dir)
    pruned = [t for t in run.trials if t.kind == "pruned"]
    assert pruned and all("pruned_at_step" in t.attrs for t in pruned)
    pd = plot_data(run, [])
    i = pd.numbers.index(pruned[0].number)
    assert pd.kinds[i] == "pruned"
    lat = pruned[0].attrs["pruned_values"]["latency_ms"]  # measured before training began: kept, drawn there too
    assert lat > 0 and pd.metrics[i]["latency_ms"] == pytest.approx(lat)
    assert "accuracy" not in pruned[0].attrs["pruned_values"]
    assert pd.metrics[i]["accuracy"] == pytest.approx(pruned[0].attrs["pruned_accuracy"])
    assert pd.metrics[i]["params_m"] > 0 and pd.metrics[i]["macs_m"] > 0
    plot_run(run, tmp_path / "plots", [])
    data = json.loads((tmp_path / "plots" / "pareto.json").read_text())
    assert set(data["pruned"]) == {t.number for t in pruned} and not set(data["pruned"]) & set(data["front"])
    page = build_report(run, [])
    assert f"pruned at step {pruned[0].attrs['pruned_at_step']}" in page
    assert f"<td>{pruned[0].attrs['pruned_accuracy']:.4g}</td><td>{lat:.4g}</td>" in page  # accuracy, latency cells
