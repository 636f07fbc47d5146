"""Datasets and latency predictor files a search cannot use are refused where they are read.

Each case is a real file handed to the real CLI (``hynas search``, in-process): exit code 2,
one message naming the file and the key or entry and what is allowed, and no run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hynas.errors import UserError
from hynas.latency.predictor import Predictor
from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
X = np.zeros((40, 8, 8, 3), np.uint8)
Y = np.arange(40) % 4
NAN_X = np.full((40, 8, 8, 3), 0.5, np.float32)
NAN_X[3, 1, 2, 0] = np.nan

BAD_DATA = {  # name -> (arrays, key named, words in the message)
    "one class": ({"x_train": X, "y_train": np.zeros(40, np.int64)}, "y_train", "only class 0"),
    "NaN labels": ({"x_train": X, "y_train": np.full(40, np.nan)}, "y_train", "NaN"),
    "negative labels": ({"x_train": X, "y_train": -Y - 1}, "y_train", "out of range"),
    "fractional labels": ({"x_train": X, "y_train": Y + 0.5}, "y_train", "not an integer"),
    "one-hot labels": ({"x_train": X, "y_train": np.eye(4)[Y]}, "y_train", "one-hot"),
    "NaN pixel": ({"x_train": NAN_X, "y_train": Y}, "x_train", "NaN or inf"),
    "inf in x_test": ({"x_train": X, "y_train": Y, "x_test": np.full(X.shape, np.inf, np.float32), "y_test": Y},
                      "x_test", "NaN or inf"),
    "negative y_val": ({"x_train": X, "y_train": Y, "x_val": X, "y_val": -Y}, "y_val", "out of range"),
    "0 channels": ({"x_train": np.zeros((40, 8, 8, 0), np.uint8), "y_train": Y}, "x_train", "empty axis"),
    "no samples": ({"x_train": X[:0], "y_train": Y[:0]}, "x_train", "no samples"),
    "text images": ({"x_train": np.array(["a"] * 40), "y_train": Y}, "x_train", "not numeric"),
}


@pytest.mark.parametrize("name", sorted(BAD_DATA))
def test_bad_npz_is_refused_naming_the_key(tmp_path: Path, capsys: Any, name: str) -> None:
    arrays, key, words = BAD_DATA[name]
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    run = tmp_path / "run"
    code, err = run_cli(["search", "--run-dir", str(run), "--proxy", "naswot", "--dataset", str(path),
                         "--budget", "1"], capsys)
    assert code == 2, err
    assert str(path) in err and f"field '{key}'" in err and words in err and "Allowed:" in err, err
    assert "Traceback" not in err
    assert not run.exists()


def test_integral_float_labels_are_accepted(tmp_path: Path) -> None:
    """Labels saved as floats from a data frame (0.0, 1.0, ...) are class indices all the same."""
    from hynas.proxy.formats import load_npz

    path = tmp_path / "data.npz"
    np.savez(path, x_train=X, y_train=Y.astype(np.float64))
    assert load_npz(path).classes == 4


def _predictor_file(tmp_path: Path, change: Any) -> Path:
    doc = json.loads((REPO / "predictors" / "ort-cpu.json").read_text())
    change(doc)
    d = tmp_path / "preds"
    d.mkdir(exist_ok=True)
    (d / "ort-cpu.json").write_text(json.dumps(doc))
    return d / "ort-cpu.json"


def _first_lut(doc: dict, value: float) -> None:
    doc["lut"][next(iter(doc["lut"]))] = value


BAD_PREDICTORS = {  # name -> (change to the shipped file, words the message must hold)
    "NaN in the LUT": (lambda d: _first_lut(d, float("nan")), "lut entry 'body|"),
    "inf in the LUT": (lambda d: _first_lut(d, float("inf")), "lut entry 'body|"),
    "negative LUT latency": (lambda d: _first_lut(d, -1.0), "lut entry 'body|"),
    "text in the LUT": (lambda d: _first_lut(d, "fast"), "lut entry 'body|"),
    "NaN leaf": (lambda d: d["regressor"]["trees"][2]["value"].__setitem__(5, float("nan")),
                 "regressor tree 2 node 5 value"),
    "inf threshold": (lambda d: d["regressor"]["trees"][0]["threshold"].__setitem__(0, float("-inf")),
                      "regressor tree 0 node 0 threshold"),
    "node pointing at itself": (lambda d: d["regressor"]["trees"][1]["left"].__setitem__(0, 0),
                                "regressor tree 1 node 0"),
    "NaN init": (lambda d: d["regressor"].__setitem__("init", float("nan")), "regressor init"),
    "inf calibration": (lambda d: d["calibration"].__setitem__("scale", float("inf")), "calibration scale"),
    "NaN type scale": (lambda d: d["calibration"]["type_scale"].__setitem__("mhsa", float("nan")),
                       "calibration type_scale 'mhsa'"),
    "NaN reference": (lambda d: d.__setitem__("reference_nominal_ms", float("nan")), "reference_nominal_ms"),
}


@pytest.mark.parametrize("name", sorted(BAD_PREDICTORS))
def test_non_finite_predictor_refused_on_load(tmp_path: Path, name: str) -> None:
    change, words = BAD_PREDICTORS[name]
    path = _predictor_file(tmp_path, change)
    with pytest.raises(UserError) as e:
        Predictor.load(path)
    assert str(path) in str(e.value) and words in str(e.value), str(e.value)


def test_nan_predictor_refused_by_search_before_anything_is_written(tmp_path: Path, capsys: Any,
                                                                    monkeypatch: Any) -> None:
    path = _predictor_file(tmp_path, lambda d: _first_lut(d, float("nan")))
    monkeypatch.setenv("HYNAS_PREDICTORS", str(path.parent))
    run = tmp_path / "run"
    code, err = run_cli(["search", "--run-dir", str(run), "--proxy", "naswot", "--predict", "--target", "ort-cpu",
                         "--budget", "1"], capsys)
    assert code == 2 and str(path) in err and "lut entry" in err and "nan" in err, err
    assert not run.exists()


def test_shipped_predictors_load() -> None:
    for p in sorted((REPO / "predictors").glob("*.json")):
        assert Predictor.load(p).lut
