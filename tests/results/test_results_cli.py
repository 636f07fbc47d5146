"""plot, report, export, show and explore on a small real run: they produce the files a user opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hynas.cli import main


def cli(*args: str) -> None:
    try:
        main(list(args))
    except SystemExit as e:  # typer's normal exit
        assert e.code in (0, None), f"exit {e.code}"


def test_plot_draws_front_and_landmarks_and_caches_their_scores(small_run: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    from hynas.results.landmarks import score_landmarks
    from hynas.results.trials import load_run

    cli("plot", str(small_run), "--out", str(tmp_path), "--landmarks", "cvt_13,maxvit_t")
    for name in ("pareto.png", "pareto.html", "pareto.json"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "pareto.json").read_text())
    assert data["front"] == [5] and data["infeasible"] == [2, 6] and data["hypervolume"] > 0  # see conftest
    assert any("3 screened out" in n for n in data["notes"])
    assert [lm["name"] for lm in data["landmarks"]] == ["cvt_13"]
    assert data["landmarks"][0]["accuracy"] >= 0 and data["landmarks"][0]["latency_ms"] > 0
    assert any("MaxViT" in n for n in data["notes"])  # 7x7 windows cannot run on 32x32 digits: said, not drawn
    page = (tmp_path / "pareto.html").read_text()
    assert "CvT-13" in page and "Pareto front" in page and "violates a constraint" in page
    assert "infeasible: violates params_m&lt;=0.45" in page  # the hover says why
    messages: list[str] = []
    again = score_landmarks(load_run(small_run), ["cvt_13"], progress=messages.append)
    assert messages == [] and again[0].values == {k: v for k, v in data["landmarks"][0].items()
                                                  if k in again[0].values}


def test_report_is_one_self_contained_page(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    cli("report", str(small_run), "--out", str(out), "--no-landmarks")
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2  # the plots and the chosen arch
    for text in ("Budget spent", "Pareto front", "Chosen architecture", "How to reproduce", "screened out",
                 "<th>feasible</th>", "<td>no</td>", "infeasible: violates params_m&lt;=0.45",
                 "rebuilt from run.json&#x27;s config", "hynas search --space default", "--constraint &#x27;params_m&lt;=0.45&#x27;",
                 "--screen 2", "Chosen architecture: trial 5"):
        assert text in page, text
    front = page.split("<h2>Pareto front</h2>")[1].split("<details>")[0]
    assert "<td>no</td>" not in front  # an infeasible trial is never in the front table
    assert "<script src=" not in page


def test_export_trains_saves_weights_and_onnx_that_agree(small_run: Path, tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    from hynas.export.codegen import load_generated

    dest = tmp_path / "model.py"
    cli("export", str(small_run), "--out", str(dest), "--train-steps", "3", "--onnx")
    mod = load_generated(dest.read_text())
    net = mod.build().eval()
    net.load_state_dict(torch.load(dest.with_suffix(".pt"), weights_only=True))
    inp = mod.ARCH["input"]
    x = torch.randn(2, inp["channels"], inp["resolution"], inp["resolution"])
    with torch.no_grad():
        y = net(x).numpy()
    sess = ort.InferenceSession(str(dest.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    y_onnx = sess.run(None, {"input": x.numpy()})[0]
    assert np.abs(y - y_onnx).max() < 1e-4
    assert "accuracy_after_3_steps" in dest.read_text()


def test_show_prints_table_and_draws(small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from hynas.results.trials import load_run

    n = load_run(small_run).complete()[0].number
    img = tmp_path / "arch.png"
    cli("show", f"{small_run}:trial{n}", "--image", str(img))
    out = capsys.readouterr().out
    assert "stem" in out and "head" in out and "total" in out and img.stat().st_size > 0
    cli("show", "search_spaces/reference/cvt_13.yaml")
    assert "19,99" in capsys.readouterr().out  # CvT-13: 19.997 M params (class token excluded per unit)


def test_explore_compares_spaces_and_ranks_knobs(small_run: Path, tmp_path: Path) -> None:
    cli("explore", "default", "default@norules", str(small_run), "--samples", "3", "--block-macs", "10",
        "--target", "torch-cpu",
        "--out", str(tmp_path))
    for name in ("edf.png", "block_latency.png", "explore.html", "explore.md", "explore.json"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "explore.json").read_text())
    assert [len(s["accuracy"]) for s in data["spaces"]][:2] == [3, 3]
    assert set(data["importance"]["default"]) == {"naswot", "latency_ms"}
    assert {b["type"] for b in data["blocks"]} >= {"mbconv", "mhsa"}
    assert "fANOVA" in (tmp_path / "explore.md").read_text()
