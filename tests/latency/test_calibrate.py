"""Calibration on arrival: a predictor from "another machine" is adapted here by timing a few archs."""

import json
import random

import pytest

from hynas.cli import main
from hynas.errors import UserError
from hynas.latency import machine_fingerprint, measure_latency, predict_latency, resolve_target
from hynas.latency.calibrate import Sample, apply_transfer, fit_transfer
from hynas.latency.features import unit_key
from hynas.latency.predict import latency_source
from hynas.latency.predictor import Predictor, calibrate, fit_units

from .conftest import QUICK, TINY_SPACE


@pytest.fixture(scope="module")
def foreign(tiny_archs):
    """A tiny predictor fitted here, then made to look measured elsewhere: another CPU, 2.5x faster."""
    from hynas.build import block_plan

    t = resolve_target("ort-cpu")
    units = {}
    for a in tiny_archs:
        for u in block_plan(a):
            units.setdefault(unit_key(u), (u, measure_latency_unit(u, t)))
    pred = fit_units(t.describe(), machine_fingerprint(t.runtime_versions()), list(units.values()), n_trees=20)
    calibrate(pred, [(a, block_plan(a), measure_latency(a, "ort-cpu", policy=QUICK).median_ms) for a in tiny_archs])
    d = pred.to_json()
    d["fingerprint"]["cpu_model"] = "Faraway CPU 9000"
    for k in ("scale", "per_unit_ms", "offset_ms"):
        d["calibration"][k] *= 0.4
    d["calibration"]["type_scale"] = {k: v * 0.4 for k, v in d["calibration"]["type_scale"].items()}
    d["calibration_by_input"] = {}
    d["meta"] = {"spaces": [TINY_SPACE]}
    return Predictor.from_json(d)


def measure_latency_unit(u, t):
    from hynas.latency import measure_unit

    return measure_unit(u, t, QUICK).median_ms


def test_fit_recovers_a_known_scale_and_family_factors(foreign, tiny_space):
    from hynas.build import block_plan
    from hynas.space import sample

    rng, samples = random.Random(3), []
    while len(samples) < 12:
        a = sample(tiny_space, rng)
        units = block_plan(a)
        ms = sum((3.0 if u.type == "mhsa" else 2.0) * foreign.unit_ms(u) for u in units)  # per-family truth
        samples.append(Sample(a, units, ms * foreign.calibration["scale"]))
    fit = fit_transfer(foreign, samples, "family")
    adapted = apply_transfer(foreign, fit)
    rel = [adapted.predict_units_ms(s.units, "1x16") / s.ms - 1 for s in samples]
    assert max(abs(r) for r in rel) < 0.15
    assert fit_transfer(foreign, samples[:5])["method"] == "global"  # too few archs for per-family factors


def test_reference_rescaling_is_kept_where_it_removes_drift_and_dropped_where_it_adds_noise(foreign, tiny_space):
    from hynas.build import block_plan
    from hynas.latency.calibrate import choose_rescaling
    from hynas.space import sample

    rng, noise = random.Random(5), random.Random(6)
    drifting, noisy_ref = [], []
    while len(drifting) < 12:
        a = sample(tiny_space, rng)
        units = block_plan(a)
        true = 2.0 * foreign.predict_units_ms(units, "1x16")
        speed = noise.uniform(0.6, 1.6)  # the machine's speed at the moment this arch was timed
        drifting.append((a, units, true * speed, 0.5 * speed))  # the reference saw the same drift
        noisy_ref.append((a, units, true * noise.uniform(0.97, 1.03), 0.5 * noise.uniform(0.3, 3.0)))
    samples, fit, rescaled = choose_rescaling(foreign, drifting, 0.5)
    assert rescaled and "loo_rmse_pct_raw" in fit and min(fit["loo_rmse_pct"].values()) < 1.0
    samples, fit, rescaled = choose_rescaling(foreign, noisy_ref, 0.5)
    assert not rescaled and [s.ms for s in samples] == [t[2] for t in noisy_ref]
    assert min(fit["loo_rmse_pct"].values()) < min(fit["loo_rmse_pct_rescaled"].values())


def test_search_source_calibrates_a_foreign_predictor_once_and_reuses_it(foreign, tiny_archs, tmp_path, monkeypatch):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path / "preds"))
    foreign.save(tmp_path / "preds" / "ort-cpu.json")
    run = tmp_path / "run"
    src = latency_source("ort-cpu", run_dir=run, space=TINY_SPACE, archs=8)
    assert src.timed is False and src.lines[0].startswith("latency: predicted, calibrated on 8 archs here (")
    stored = run / "predictor-ort-cpu.json"
    assert src.predictor == stored and src.record["calibrated"] is True
    cal = json.loads(stored.read_text())["meta"]["calibration"]
    assert cal["k"] == 8 and len(cal["archs"]) == 8 and cal["source_sha256"] and cal["seconds"] > 0
    assert cal["fingerprint"]["cpu_model"] != "Faraway CPU 9000" and cal["source_fingerprint"]["cpu_model"]
    assert cal["fit"]["global"] > 1.5  # the foreign file read 2.5x low: calibration scales it back up

    a = tiny_archs[0]
    measured = measure_latency(a, "ort-cpu").median_ms
    here = predict_latency(a, "ort-cpu", run_dir=run)
    before = predict_latency(a, "ort-cpu")
    assert here.warnings == () and before.warnings  # the stored file is of this machine; the source is not
    assert abs(here.median_ms / measured - 1) < abs(before.median_ms / measured - 1)

    mtime = stored.stat().st_mtime_ns
    again = latency_source("ort-cpu", run_dir=run, space=TINY_SPACE, archs=8)  # a resume: re-used, not redone
    assert "re-used on resume, not recalibrated" in again.lines[0] and stored.stat().st_mtime_ns == mtime


def test_no_calibrate_keeps_the_warning(foreign, tmp_path, monkeypatch):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    foreign.save(tmp_path / "ort-cpu.json")
    timed, lines = latency_source("ort-cpu", run_dir=tmp_path / "run", calibrate=False)
    assert timed is False and "not calibrated (--no-calibrate)" in lines[0]
    assert "Faraway CPU 9000" in lines[1] and "hynas calibrate --target ort-cpu" in lines[1]
    assert not (tmp_path / "run").exists()


def test_calibrate_cli_writes_a_new_file_and_refuses_bad_input(foreign, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    foreign.save(tmp_path / "ort-cpu.json")
    out = tmp_path / "cal" / "ort-cpu.json"
    main(["calibrate", "--target", "ort-cpu", "--archs", "5", "--out", str(out)])
    text = capsys.readouterr().out
    assert "timed 5 archs" in text and f"wrote {out}" in text
    assert Predictor.load(out).meta["calibration"]["k"] == 5
    other = tmp_path / "cal" / "torch-cpu.json"  # another target's predictor adapted to this one
    main(["calibrate", "--target", "torch-cpu", "--source", str(tmp_path / "ort-cpu.json"), "--archs", "5",
          "--out", str(other)])
    adapted = Predictor.load(other)
    assert adapted.target["name"] == "torch-cpu" and adapted.meta["calibration"]["source_target"] == "ort-cpu"
    for args, msg in (
        (["--out", str(tmp_path / "ort-cpu.json")], "is the source predictor itself"),
        (["--archs", "2", "--out", str(out)], "--archs must be in 5..500"),
        (["--target", "ort-cpu@x1", "--out", str(out)], "suffix '@x1' is not allowed"),
        (["--source", str(tmp_path / "nope.json"), "--out", str(out)], "no such predictor file"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["calibrate", *args])
        assert e.value.code == 2 and msg in capsys.readouterr().err


def test_measure_and_predict_still_exclude_each_other():
    with pytest.raises(UserError, match="exclude each other"):
        latency_source("ort-cpu", measure=True, predict=True)


def test_search_calibrates_on_arrival_records_it_and_resumes_without_redoing(foreign, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path / "preds"))
    foreign.save(tmp_path / "preds" / "ort-cpu.json")
    run = tmp_path / "run"
    args = ["search", "--target", "ort-cpu", "--space", TINY_SPACE, "--proxy", "naswot", "--run-dir", str(run)]
    main([*args, "--budget", "2"])
    out = capsys.readouterr().out
    assert "latency: predicted, calibrated on" in out and "warning" not in out.lower()
    rec = json.loads((run / "run.json").read_text())["config"]["latency_predictor"]
    assert rec["calibrated"] is True and rec["calibration"]["source_sha256"] and (run / "predictor-ort-cpu.json").is_file()
    main([*args, "--budget", "3"])
    assert "re-used on resume, not recalibrated" in capsys.readouterr().out
    main([*args[:-1], str(tmp_path / "run2"), "--budget", "1", "--no-calibrate"])
    out = capsys.readouterr().out
    assert "not calibrated (--no-calibrate)" in out and "Faraway CPU 9000" in out
