"""Latency predictor: per-unit lookup table + boosted trees for unseen units + end-to-end calibration.

nn-Meter's decomposition (Zhang et al., MobiSys 2021: predict the kernels a runtime
executes, then sum) applied to hynas units (``hynas.build.block_plan``): a unit seen
while profiling is looked up; an unseen one is predicted by gradient-boosted trees on its
features (log latency). The sum of isolated units is not the network's latency — every
isolated run pays the runtime's per-call overhead and the whole graph fuses and caches
differently — so a linear calibration ``scale * sum + per_unit_ms * n_units + offset_ms``
is fitted on whole-arch measurements, minimizing relative error.

Files are plain JSON (``predictors/<target>.json``) with the machine fingerprint; loading
one never unpickles and needs no scikit-learn.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.latency.features import feature_names, unit_features, unit_key, vectorize
from hynas.latency.gbt import Boosted, fit_gbt
from hynas.resources import predictors_dir

FORMAT = "hynas-latency-predictor"
VERSION = 1
REPO_PREDICTORS = predictors_dir()  # shipped predictors: inside the installed package, or the checkout's predictors/


@dataclass
class Predictor:
    target: dict[str, Any]
    fingerprint: dict[str, Any]
    features: list[str]
    lut: dict[str, float]
    regressor: Boosted | None
    calibration: dict[str, Any] = field(
        default_factory=lambda: {"scale": 1.0, "per_unit_ms": 0.0, "offset_ms": 0.0, "type_scale": {}}
    )
    meta: dict[str, Any] = field(default_factory=dict)
    reference_nominal_ms: float | None = None  # reference network time at the machine's nominal speed
    # calibrations fitted on archs of one input shape ("CxR", e.g. "3x224"): fusion and per-call overhead
    # weigh differently on 32 px and 224 px maps; other shapes use ``calibration`` (fitted on all archs)
    calibration_by_input: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cache: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def batch(self) -> int:
        return int(self.target.get("batch", 1))

    def unit_ms(self, unit: Any) -> float:
        """One unit's isolated latency: measured if seen while profiling, else the trees' estimate."""
        key = unit_key(unit)
        ms = self.lut.get(key) or self._cache.get(key)
        if ms is None:
            if self.regressor is None:
                raise UserError(
                    f"predictor for {self.target.get('name')} has no regressor and never saw unit {key}."
                )
            ms = math.exp(self.regressor(vectorize(unit_features(unit, self.batch), self.features)))
            self._cache[key] = ms
        return ms

    def predict_units_ms(self, units: list[Any], input_key: str | None = None) -> float:
        """Calibrated sum of the units' isolated latencies (see ``fit_calibration``)."""
        c = self.calibration_by_input.get(input_key or "", self.calibration)
        ts, scale = c.get("type_scale", {}), c["scale"]
        total = sum(ts.get(u.type, scale) * self.unit_ms(u) for u in units)
        return max(total + c["per_unit_ms"] * len(units) + c["offset_ms"], 1e-3 * total)

    def at_nominal_speed(self, measured_ms: float, reference_ms: float | None) -> float:
        """A measured latency rescaled to the speed this predictor was fitted at (unchanged without a reference)."""
        if not reference_ms or not self.reference_nominal_ms:
            return measured_ms
        return measured_ms * self.reference_nominal_ms / reference_ms

    def predict_ms(self, arch: Any, resolution: int | None = None) -> float:
        from hynas.build import block_plan

        return self.predict_units_ms(block_plan(arch, resolution), input_key(arch, resolution))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "target": self.target,
            "fingerprint": self.fingerprint,
            "calibration": self.calibration,
            "calibration_by_input": self.calibration_by_input,
            "reference_nominal_ms": self.reference_nominal_ms,
            "meta": self.meta,
            "features": self.features,
            "regressor": self.regressor.to_json() if self.regressor else None,
            "lut": dict(sorted(self.lut.items())),
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, p)
        return p

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Predictor:
        if d.get("format") != FORMAT or int(d.get("version", 0)) > VERSION:
            raise UserError(
                f"not a hynas latency predictor of version <= {VERSION} (format {d.get('format')!r}, "
                f"version {d.get('version')!r})."
            )
        features = list(d["features"])
        reg = Boosted.from_json(d["regressor"]) if d.get("regressor") else None
        if reg is not None:
            check_regressor(reg, len(features))
        ref = d.get("reference_nominal_ms")
        return cls(
            dict(d["target"]),
            dict(d["fingerprint"]),
            features,
            {str(k): _number(v, f"lut entry {str(k)[:120]!r}", positive=True) for k, v in d["lut"].items()},
            reg,
            _calibration(d["calibration"], "calibration"),
            dict(d.get("meta", {})),
            _number(ref, "reference_nominal_ms", positive=True) if ref else None,
            {str(k): _calibration(v, f"calibration_by_input {str(k)[:40]!r}")
             for k, v in d.get("calibration_by_input", {}).items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """Read a predictor file (JSON only; nothing is unpickled or executed)."""
        p = Path(path)
        try:
            return cls.from_json(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # AttributeError: a list/number
            raise UserError(f"{p}: cannot read latency predictor ({e}).") from None
        except UserError as e:  # refused by the schema: say which file
            raise e if str(p) in str(e) else UserError(f"{p}: {e}") from None


def input_key(arch: Any, resolution: int | None = None) -> str:
    """The input shape an arch runs at, as calibrations are keyed: ``channels x resolution``."""
    return f"{arch.input['channels']}x{resolution or arch.input['resolution']}"


def calibrate(pred: Predictor, whole: list[tuple[Any, list[Any], float]], min_archs: int = 8) -> None:
    """Fit the global calibration on all (arch, units, ms) and one per input shape with ``min_archs`` or more."""
    pred.calibration = fit_calibration(pred, [(u, ms) for _, u, ms in whole])
    groups: dict[str, list[tuple[list[Any], float]]] = {}
    for a, u, ms in whole:
        groups.setdefault(input_key(a), []).append((u, ms))
    pred.calibration_by_input = {
        k: fit_calibration(pred, g)
        for k, g in sorted(groups.items())
        if len(g) >= min_archs and len(groups) > 1
    }


def _calibration(d: dict[str, Any], where: str = "calibration") -> dict[str, Any]:
    return {
        "scale": _number(d["scale"], f"{where} scale"),
        "per_unit_ms": _number(d["per_unit_ms"], f"{where} per_unit_ms"),
        "offset_ms": _number(d["offset_ms"], f"{where} offset_ms"),
        "type_scale": {str(k): _number(v, f"{where} type_scale {str(k)[:40]!r}")
                       for k, v in d.get("type_scale", {}).items()},
    }


def _number(v: Any, where: str, positive: bool = False) -> float:
    """A finite number from a predictor file (a NaN or inf would turn every prediction into NaN, and every
    trial of a search into a failure, so it is refused when the file is read, naming the entry)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
    if not ok:
        allowed = "a finite number > 0 (milliseconds)" if positive else "a finite number"
        raise UserError(f"{where}: {v!r} is not allowed; expected {allowed}.")
    return float(v)


def check_regressor(reg: Boosted, n_features: int) -> None:
    """Refuse a regressor whose trees are not trees (a node pointing back up loops forever) or hold a
    non-finite number. sklearn's layout numbers children after their parent, which is what is checked."""
    _number(reg.init, "regressor init")
    _number(reg.learning_rate, "regressor learning_rate")
    for i, t in enumerate(reg.trees):
        n = len(t.left)
        if n == 0 or not (len(t.right) == len(t.feature) == len(t.threshold) == len(t.value) == n):
            raise UserError(f"regressor tree {i}: its arrays (left, right, feature, threshold, value) must be "
                            "non-empty and of one length.")
        for node in range(n):
            _number(t.value[node], f"regressor tree {i} node {node} value")
            if t.left[node] == -1:
                continue
            if not (node < t.left[node] < n and node < t.right[node] < n and 0 <= t.feature[node] < n_features):
                raise UserError(f"regressor tree {i} node {node}: children must come after their parent (< {n}) "
                                f"and the feature index lie in 0..{n_features - 1}.")
            _number(t.threshold[node], f"regressor tree {i} node {node} threshold")
    reach = abs(reg.init) + abs(reg.learning_rate) * sum(max(abs(v) for v in t.value) for t in reg.trees)
    if reach > 700:  # it predicts log(ms): exp() of more than ~709 is past the float range
        raise UserError(f"regressor: its trees can predict log-latencies up to {reach:.3g}, past exp()'s range.")


def fit_units(
    target: dict[str, Any], fingerprint: dict[str, Any], unit_ms: list[tuple[Any, float]], n_trees: int = 300
) -> Predictor:
    """A predictor with the measured units as lookup table and trees fitted on them (no calibration yet)."""
    batch = int(target.get("batch", 1))
    rows = [unit_features(u, batch) for u, _ in unit_ms]
    names = feature_names(rows)
    reg = (
        fit_gbt([vectorize(r, names) for r in rows], [math.log(ms) for _, ms in unit_ms], n_trees=n_trees)
        if unit_ms
        else None
    )
    lut = {unit_key(u): ms for u, ms in unit_ms}
    return Predictor(dict(target), dict(fingerprint), names, lut, reg)


def fit_calibration(
    pred: Predictor, arch_units: list[tuple[list[Any], float]], ridge: float = 0.3
) -> dict[str, Any]:
    """Whole-arch calibration, least squares in relative error on whole-arch measurements.

    ``sum_t scale_t * (isolated ms of units of block type t) + per_unit_ms * n_units + offset_ms``.
    A per-type scale is needed because graph fusion and per-call overhead weigh differently
    per block type (the shipped predictors/ort-cpu.json fits 0.71 for mhsa up to 1.17 for
    maxvit around a global 0.87). Type scales are pulled toward the
    global scale by a ridge term, so a type seen in few archs keeps the global one; types
    absent from the calibration archs use the global scale. Fewer than 8 archs fit only
    the global scale (more free terms would chase noise).
    """
    import numpy as np

    if not arch_units:
        return {"scale": 1.0, "per_unit_ms": 0.0, "offset_ms": 0.0, "type_scale": {}}
    y = np.array([ms for _, ms in arch_units])
    iso = [[pred.unit_ms(u) for u in units] for units, _ in arch_units]
    s = np.array([sum(v) for v in iso])
    n = np.array([float(len(units)) for units, _ in arch_units])
    cols = [s, n, np.ones_like(s)] if len(y) >= 8 else [s]
    coef, *_ = np.linalg.lstsq(np.stack(cols, axis=1) / y[:, None], np.ones_like(y), rcond=None)
    base = {
        "scale": float(coef[0]),
        "per_unit_ms": float(coef[1]) if len(coef) > 1 else 0.0,
        "offset_ms": float(coef[2]) if len(coef) > 2 else 0.0,
        "type_scale": {},
    }
    if len(y) < 8:
        return base
    types = sorted({u.type for units, _ in arch_units for u in units})
    per_type = np.array(
        [
            [sum(ms for u, ms in zip(units, v) if u.type == t) for t in types]
            for (units, _), v in zip(arch_units, iso)
        ]
    )
    a = np.concatenate([per_type, n[:, None], np.ones((len(y), 1))], axis=1) / y[:, None]
    k = len(types)
    reg = np.concatenate([np.sqrt(ridge) * np.eye(k), np.zeros((k, 2))], axis=1)
    rhs = np.concatenate([np.ones_like(y), np.sqrt(ridge) * np.full(k, base["scale"])])
    coef, *_ = np.linalg.lstsq(np.concatenate([a, reg]), rhs, rcond=None)
    return {
        "scale": base["scale"],
        "per_unit_ms": float(coef[k]),
        "offset_ms": float(coef[k + 1]),
        "type_scale": {t: float(c) for t, c in zip(types, coef[:k])},
    }


def accuracy(predicted_ms: list[float], measured_ms: list[float]) -> dict[str, float]:
    """Share within ±10% / ±5% of the measured median, RMSE of the relative error (%), Spearman."""
    import numpy as np
    from scipy.stats import spearmanr

    p, y = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    rel = p / y - 1.0
    rho = float(spearmanr(p, y).statistic) if len(y) > 2 else float("nan")
    return {
        "n": len(y),
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "within_5pct": float(np.mean(np.abs(rel) <= 0.05)),
        "rmse_pct": float(np.sqrt(np.mean(rel**2)) * 100),
        "spearman": rho,
    }


def predictor_dirs() -> list[Path]:
    """Where predictor files are looked up: $HYNAS_PREDICTORS, ./predictors, then the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("HYNAS_PREDICTORS", "").split(os.pathsep) if p]
    out: list[Path] = []
    for d in dirs + [Path.cwd() / "predictors", REPO_PREDICTORS]:
        if d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def find_predictor(target: str) -> Path:
    for d in predictor_dirs():
        p = d / f"{target}.json"
        if p.is_file():
            return p
    raise UserError(
        f"no latency predictor for target '{target}' (looked in "
        f"{', '.join(str(d) for d in predictor_dirs())}). Measure one with "
        f"`hynas profile --target {target} --space FILE`, or time candidates instead (`hynas search --measure`)."
    )


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int) -> Predictor:
    return Predictor.load(path)


def load_predictor(target: str) -> tuple[Predictor, Path]:
    p = find_predictor(target)
    return _load_cached(str(p), p.stat().st_mtime_ns), p
