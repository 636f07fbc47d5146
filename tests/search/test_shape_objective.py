"""shape_sensitivity as a third objective: a real search through plot, export, report and explore; refusals."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pytest

from hynas.cli import main
from hynas.results.trials import load_run

optuna.logging.set_verbosity(optuna.logging.ERROR)
OBJECTIVES = "accuracy,latency_ms,shape_sensitivity"


def test_three_objective_search_through_plot_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Train, time, score shape sensitivity on the same trained model; the readers draw, list and export it."""
    monkeypatch.setenv("HYNAS_THREADS", "1")
    rd = tmp_path / "run"
    main(["search", "--objectives", OBJECTIVES, "--budget", "2", "--train-steps", "8", "--dataset", "digits",
          "--sampler", "random", "--run-dir", str(rd)])
    out = capsys.readouterr().out
    assert "budget of 2 evaluated candidates reached" in out
    run = load_run(rd)
    # every objective on every candidate's line (terminal and search.log) and in the summary: the stored values
    shown = re.findall(r"trial +(\d+)  complete .* · shape_sensitivity (-?[\d.]+) · [\d.]+ s", out)
    stored = {t.number: t.values["shape_sensitivity"] for t in run.complete()}
    assert len(shown) == len(stored) and all(float(v) == pytest.approx(stored[int(n)], abs=5e-4) for n, v in shown)
    logged = (rd / "search.log").read_text()
    assert all(f"shape_sensitivity {v} · " in logged for _, v in shown), logged
    best = re.search(r"best of each objective: acc ([\d.]+) · ([\d.]+) ms · shape_sensitivity ([\d.]+)", out)
    assert best, out
    assert float(best[3]) == pytest.approx(max(stored.values()), abs=5e-4)
    assert float(best[2]) == pytest.approx(min(t.values["latency_ms"] for t in run.complete()), abs=5e-4)
    assert run.objectives == ["accuracy", "latency_ms", "shape_sensitivity"]
    assert run.directions == ["maximize", "minimize", "maximize"]
    done = run.complete()
    assert done, [t.attrs.get("fail_reason") for t in run.trials]
    for t in done:
        assert set(t.values) == {"accuracy", "latency_ms", "shape_sensitivity"}
        assert all(math.isfinite(v) for v in t.values.values())
        assert 0.0 <= t.values["accuracy"] <= 1.0 and t.values["latency_ms"] > 0
        drops = {k: v for k, v in t.attrs.items() if k.startswith("shape_drop_")}
        assert set(drops) == {f"shape_drop_{lv}" for lv in ("patch2", "patch4", "patch8", "blend4", "blend8")}
        assert all(-1.0 <= v <= 1.0 for v in drops.values())
        assert t.values["shape_sensitivity"] == pytest.approx(sum(drops.values()) / len(drops))
        # the trained model, scored on the same held-out images: its original accuracy is the trainer's
        assert t.attrs["shape_accuracy_original"] == pytest.approx(t.values["accuracy"], abs=2e-3)
        assert t.attrs["trained_scores_seconds"] > 0

    main(["plot", str(rd), "--no-landmarks"])
    summary = json.loads((rd / "pareto.json").read_text())
    assert summary["objectives"] == run.objectives and summary["front"]
    assert (rd / "pareto.png").stat().st_size > 10_000 and "shape_sensitivity" in (rd / "pareto.html").read_text()

    out = tmp_path / "export" / "model.py"
    main(["export", str(rd), "--pick", "knee", "--out", str(out)])
    assert out.is_file() and "shape_sensitivity" in capsys.readouterr().out

    from hynas.results.explore import layout_table
    from hynas.results.report import front_section

    assert "<th>shape_sensitivity</th>" in front_section(run)[0]
    table = layout_table(str(rd))
    assert f"{len(done)} completed trials" in table and "Spearman rho(shape_sensitivity, attention_share)" in table


@pytest.mark.parametrize("extra", [["--proxy", "naswot"],
                                   ["--proxy", "naswot", "--objectives", "accuracy,latency_ms",
                                    "--constraint", "shape_sensitivity>=0.1"],
                                   ["--table", "nb201-cifar10"]])
def test_shape_sensitivity_without_training_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    rd = tmp_path / "run"
    argv = ["search", "--objectives", OBJECTIVES, "--budget", "2", "--run-dir", str(rd), *extra]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--objectives" in err and "shape_sensitivity" in err and ("zero-cost" in err or "--table" in err)
    assert not rd.exists()


@pytest.mark.parametrize("extra, flag, nearest", [
    (["--proxy-resolution", "28"], "--proxy-resolution 28", "24 or 32"),
    (["--resolution", "36"], "--resolution 36", "32 or 40"),
    (["--objectives", "accuracy,latency_ms", "--constraint", "shape_sensitivity>=0.1", "--resolution", "12"],
     "--resolution 12", "16"),
    (["--dataset", "NPZ36"], "--dataset", "32 or 40")])
def test_a_size_the_patch_grids_cannot_cut_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], flag: str, nearest: str) -> None:
    """patch8 at 28 or 36 px would fail only after the first candidate trained; it is refused up front (exit 2)."""
    import numpy as np

    npz = tmp_path / "set36.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, x_train=rng.random((40, 36, 36), dtype=np.float32), y_train=np.arange(40) % 4)
    rd = tmp_path / "run"
    argv = ["search", "--objectives", OBJECTIVES, "--budget", "1", "--train-steps", "2", "--run-dir", str(rd),
            *[str(npz) if a == "NPZ36" else a for a in extra]]
    from tests.cli import run_cli

    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert flag in err and "shape_sensitivity" in err and "multiple of 8 and at least 16" in err
    assert f"Nearest allowed: {nearest}." in err
    assert not rd.exists()


def test_list_scores_names_shape_sensitivity(capsys: pytest.CaptureFixture[str]) -> None:
    main(["list", "scores"])
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert names == ["accuracy_int8", "shape_sensitivity"]
