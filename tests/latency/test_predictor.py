"""Predictor: fit on measured units, JSON round trip, no unpickling, fingerprint warnings, missing files."""

import json
import math
import pickle
import random

import pytest

from hynas.errors import UserError
from hynas.latency import machine_fingerprint, measure_latency, measure_unit, predict_latency, resolve_target
from hynas.latency.features import unit_key
from hynas.latency.gbt import Boosted, fit_gbt
from hynas.latency.predictor import Predictor, fit_calibration, fit_units

from .conftest import QUICK


@pytest.fixture(scope="module")
def fitted(tiny_archs):
    """A predictor fitted on the measured units of three tiny archs, calibrated on five whole archs."""
    from hynas.build import block_plan

    t = resolve_target("ort-cpu")
    units = {}
    for a in tiny_archs[:3]:
        for u in block_plan(a):
            units.setdefault(unit_key(u), (u, measure_unit(u, t, QUICK).median_ms))
    pred = fit_units(
        t.describe(), machine_fingerprint(t.runtime_versions()), list(units.values()), n_trees=30
    )
    whole = [(block_plan(a), measure_latency(a, "ort-cpu", policy=QUICK).median_ms) for a in tiny_archs[:5]]
    pred.calibration = fit_calibration(pred, whole)
    return pred


def test_predicts_seen_and_unseen_units(fitted, tiny_archs):
    from hynas.build import block_plan

    for a in tiny_archs:
        ms = fitted.predict_ms(a)
        assert math.isfinite(ms) and ms > 0
    unseen = [u for u in block_plan(tiny_archs[0], resolution=32)]  # other map sizes: not in the table
    assert any(unit_key(u) not in fitted.lut for u in unseen)
    assert all(fitted.unit_ms(u) > 0 for u in unseen)


def test_json_round_trip_predicts_the_same(fitted, tiny_archs, tmp_path):
    p = fitted.save(tmp_path / "ort-cpu.json")
    data = json.loads(p.read_text())
    assert data["format"] == "hynas-latency-predictor" and data["fingerprint"]["cpu_model"]
    back = Predictor.load(p)
    for a in tiny_archs:
        assert back.predict_ms(a) == pytest.approx(fitted.predict_ms(a), rel=1e-12)
        assert back.predict_ms(a, resolution=32) == pytest.approx(
            fitted.predict_ms(a, resolution=32), rel=1e-12
        )


def test_loading_never_unpickles(fitted, tmp_path, monkeypatch):
    p = fitted.save(tmp_path / "ort-cpu.json")

    def refuse(*_a, **_k):
        raise AssertionError("a predictor file must not be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert Predictor.load(p).lut
    bad = tmp_path / "evil.json"
    bad.write_bytes(pickle.dumps({"format": "hynas-latency-predictor"}))
    with pytest.raises(UserError, match="cannot read latency predictor"):
        Predictor.load(bad)


def test_exported_trees_match_sklearn():
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    rng = random.Random(0)
    x = [[rng.uniform(0, 10), rng.choice([0.0, 1.0]), rng.uniform(-1, 1)] for _ in range(200)]
    y = [r[0] ** 1.5 + 3 * r[1] - r[2] for r in x]
    ours = Boosted.from_json(json.loads(json.dumps(fit_gbt(x, y, n_trees=50).to_json())))
    ref = GradientBoostingRegressor(
        n_estimators=50, max_depth=4, learning_rate=0.05, subsample=0.8, min_samples_leaf=2, random_state=0
    ).fit(np.array(x), np.array(y))
    assert [ours(r) for r in x[:20]] == pytest.approx(list(ref.predict(np.array(x[:20]))), rel=1e-9, abs=1e-9)


def test_fingerprint_mismatch_warns_and_says_how_to_profile(fitted, tiny_archs, tmp_path, monkeypatch):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    fitted.save(tmp_path / "ort-cpu.json")
    r = predict_latency(tiny_archs[0], "ort-cpu")
    assert r.method == "predicted" and r.median_ms > 0 and r.warnings == ()
    other = Predictor.from_json(fitted.to_json())
    other.fingerprint = dict(other.fingerprint, cpu_model="Some Other CPU 9000")
    other.save(tmp_path / "ort-cpu.json")
    r = predict_latency(tiny_archs[0], "ort-cpu")
    assert len(r.warnings) == 1 and "Some Other CPU 9000" in r.warnings[0]
    assert "hynas profile --target ort-cpu" in r.warnings[0]


def test_missing_predictor_says_how_to_profile(tiny_archs, tmp_path, monkeypatch):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    with pytest.raises(UserError, match="hynas profile --target torch-cpu@b3"):
        predict_latency(tiny_archs[0], "torch-cpu@b3")


def test_measurement_rescaled_to_the_predictors_nominal_speed(fitted, tiny_archs, tmp_path, monkeypatch):
    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    p = Predictor.from_json(fitted.to_json())
    p.reference_nominal_ms = 0.5
    p.save(tmp_path / "ort-cpu.json")
    r = measure_latency(tiny_archs[0], "ort-cpu", policy=QUICK)
    assert r.nominal_ms == pytest.approx(r.median_ms * 0.5 / r.reference_ms)
    assert (
        measure_latency(tiny_archs[0], "ort-cpu@b2", policy=QUICK).nominal_ms is None
    )  # no predictor for b2


def test_search_latency_source_prefers_the_predictor_and_says_so(fitted, tmp_path, monkeypatch):
    from hynas.latency.predict import latency_source

    monkeypatch.setenv("HYNAS_PREDICTORS", str(tmp_path))
    fitted.save(tmp_path / "ort-cpu.json")
    measure, lines = latency_source("ort-cpu")
    assert measure is False and str(tmp_path / "ort-cpu.json") in lines[0]
    assert latency_source("ort-cpu", measure=True)[0] is True
    measure, lines = latency_source("torch-cpu@b3")  # no file for it: timed, and told how to profile
    assert measure is True and "hynas profile --target torch-cpu@b3" in lines[0]
    with pytest.raises(UserError, match="hynas profile --target torch-cpu@b3"):
        latency_source("torch-cpu@b3", predict=True)
    with pytest.raises(UserError, match="exclude each other"):
        latency_source("ort-cpu", measure=True, predict=True)
