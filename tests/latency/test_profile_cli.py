"""`hynas profile` end to end on a tiny space (real measurements), then `hynas latency --predict` with its file."""

import json

from hynas.cli import main

from .conftest import TINY_SPACE


def test_profile_then_predict(tmp_path, monkeypatch, capsys, tiny_archs):
    out = tmp_path / "ort-cpu.json"
    main(["profile", "--target", "ort-cpu", "--space", TINY_SPACE, "--time-budget", "10s", "--out", str(out)])
    text = capsys.readouterr().out
    assert "held-out archs" in text and "MACs-only" in text and f"wrote {out}" in text
    data = json.loads(out.read_text())
    assert data["lut"] and data["reference_nominal_ms"] > 0 and data["meta"]["archs_measured"] >= 4

    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    arch = tmp_path / "a.json"
    arch.write_text(tiny_archs[0].to_json())
    main(["latency", str(arch), "--predict", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["method"] == "predicted" and r["median_ms"] > 0 and r["target"] == "ort-cpu"
