"""accuracy_int8 (Q-HyViT): a real search whose candidates are quantized as ort-cpu-int8 deploys them and scored
in onnxruntime; the drop per trial, the readers (line, plot, report), --int8-keep-bridges and its refusals."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pytest

from hynas.cli import main
from hynas.results.trials import load_run
from tests.cli import run_cli

optuna.logging.set_verbosity(optuna.logging.ERROR)
OBJECTIVES = "accuracy,accuracy_int8,latency_ms"
FAST = ["--budget", "2", "--train-steps", "8", "--dataset", "digits", "--sampler", "random", "--no-calibrate"]


def test_int8_search_records_int8_accuracy_and_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HYNAS_THREADS", "1")
    rd = tmp_path / "run"
    main(["search", "--objectives", OBJECTIVES, *FAST, "--run-dir", str(rd)])
    out = capsys.readouterr().out
    run = load_run(rd)
    done = run.complete()
    assert done, [t.attrs.get("fail_reason") for t in run.trials]
    assert run.objectives == ["accuracy", "accuracy_int8", "latency_ms"]
    assert json.loads((rd / "run.json").read_text())["config"]["int8_keep_bridges"] is False
    shown = dict(re.findall(r"trial +(\d+)  complete .* · int8 ([\d.]+) \(drop [-+][\d.]+\) · [\d.]+ s", out))
    assert len(shown) == len(done), out
    for t in done:
        a, int8 = t.attrs, t.values["accuracy_int8"]
        assert isinstance(int8, float) and math.isfinite(int8) and 0.0 <= int8 <= 1.0
        assert float(shown[str(t.number)]) == pytest.approx(int8, abs=5e-4)
        # scored in onnxruntime on all 1000 held-out digits: the fp32 ONNX graph scores what the trainer measured
        assert a["int8_eval_images"] == 1000
        assert a["int8_fp32_accuracy"] == pytest.approx(t.values["accuracy"], abs=2e-3)
        assert a["int8_drop"] == pytest.approx(a["int8_fp32_accuracy"] - int8)
        assert a["int8_all_accuracy"] == int8 and a["int8_keep_bridges"] is False
        assert isinstance(a["int8_bridges"], list)
    assert f"int8 {shown[str(done[0].number)]} (drop " in (rd / "search.log").read_text()

    main(["plot", str(rd), "--no-landmarks"])
    html = (rd / "pareto.html").read_text()
    assert "int8 vs accuracy" in html and "int8 vs latency" in html  # int8 against fp32 accuracy and latency
    from hynas.results.report import front_section

    table = front_section(run)[0]
    assert "int8 accuracy (onnxruntime)" in table and "int8 drop (fp32 - int8)" in table

    # the same run directory with the bridges kept is another search: refused, naming the flag
    code, err = run_cli(["search", "--objectives", OBJECTIVES, *FAST, "--int8-keep-bridges", "--run-dir", str(rd)],
                        capsys)
    assert code == 2 and "--int8-keep-bridges" in err, err


def test_keep_bridges_scores_the_mixed_precision_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYNAS_THREADS", "1")
    rd = tmp_path / "run"
    main(["search", "--objectives", OBJECTIVES, *FAST[:1], "1", *FAST[2:], "--int8-keep-bridges",
          "--run-dir", str(rd)])
    run = load_run(rd)
    assert json.loads((rd / "run.json").read_text())["config"]["int8_keep_bridges"] is True
    (t,) = run.complete()
    a = t.attrs
    assert a["int8_keep_bridges"] is True and a["int8_bridges"]  # the default space's attention stages bridge
    assert a["int8_drop"] == pytest.approx(a["int8_fp32_accuracy"] - t.values["accuracy_int8"])
    assert 0.0 <= a["int8_all_accuracy"] <= 1.0


@pytest.mark.parametrize("extra", [["--objectives", "accuracy,latency_ms"],
                                   ["--objectives", "accuracy,latency_ms", "--constraint", "shape_sensitivity>=0.1"]])
def test_keep_bridges_without_the_objective_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       extra: list[str]) -> None:
    rd = tmp_path / "run"
    code, err = run_cli(["search", *extra, "--int8-keep-bridges", "--budget", "1", "--run-dir", str(rd)], capsys)
    assert code == 2 and "--int8-keep-bridges" in err and "accuracy_int8" in err, err
    assert not rd.exists()


def test_int8_without_training_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = tmp_path / "run"
    code, err = run_cli(["search", "--objectives", OBJECTIVES, "--proxy", "naswot", "--budget", "1",
                         "--run-dir", str(rd)], capsys)
    assert code == 2 and "accuracy_int8" in err and "zero-cost" in err, err
    assert not rd.exists()
