"""Calibrate a predictor on arrival: time K whole archs here and adapt its scale to this machine.

A predictor profiled on one machine ranks archs well on another of the same kind but reads
off by a factor (another host behind the same CPU string, another runtime version, another
runtime altogether). Within one machine the reference network fixes drift
(``hynas.latency.reference``); between machines the K archs fix the scale:

    y ≈ c_g * (per-unit and offset terms) + sum_t c_t * (source's contribution of block type t)

The source's prediction is split by block type (its calibrated unit sums) plus its fixed
terms; ``global`` fits one factor (the median of the log-ratios, robust to an outlier);
``family`` fits one factor per block type by Huber-weighted least squares in relative error,
ridge-pulled toward the global one. Which one (and how strong the pull) is chosen by
leave-one-out error on the K archs. The result is baked into an ordinary predictor file
(its calibration terms rescaled), with a ``meta["calibration"]`` record of how it was made.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hynas.latency.predictor import Predictor, input_key

RIDGES = (0.03, 0.1, 0.3, 1.0, 3.0)
HUBER = 0.05  # relative error beyond which a calibration arch's weight falls (one slow outlier)
MIN_FAMILY = 8  # fewer archs fit the global factor only
DEFAULT_ARCHS = 20
DEFAULT_BUDGET_S = 60.0
RAW_MARGIN = 0.5  # calibrate on raw times only where they fit at least 2x better than reference-rescaled ones


@dataclass(frozen=True)
class Sample:
    arch: Any
    units: list[Any]
    ms: float  # at this machine's nominal speed


def contributions(pred: Predictor, units: list[Any], key: str) -> tuple[dict[str, float], float]:
    """The source prediction of one arch split into per-block-type sums and its fixed terms."""
    c = pred.calibration_by_input.get(key, pred.calibration)
    ts, scale = c.get("type_scale", {}), c["scale"]
    parts: dict[str, float] = {}
    for u in units:
        parts[u.type] = parts.get(u.type, 0.0) + ts.get(u.type, scale) * pred.unit_ms(u)
    return parts, c["per_unit_ms"] * len(units) + c["offset_ms"]


def _design(pred: Predictor, samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rows = [contributions(pred, s.units, input_key(s.arch)) for s in samples]
    types = sorted({t for parts, _ in rows for t in parts})
    s_mat = np.array([[parts.get(t, 0.0) for t in types] for parts, _ in rows])
    fixed = np.array([f for _, f in rows])
    return s_mat, fixed, np.array([s.ms for s in samples]), types


def _global(s_mat: np.ndarray, fixed: np.ndarray, y: np.ndarray) -> float:
    return float(np.exp(np.median(np.log(y / np.maximum(s_mat.sum(1) + fixed, 1e-9)))))


def _family(s_mat: np.ndarray, fixed: np.ndarray, y: np.ndarray, ridge: float) -> tuple[float, np.ndarray]:
    """Global factor, then per-type factors (Huber IRLS, relative error, ridge toward the global one)."""
    g = _global(s_mat, fixed, y)
    k = s_mat.shape[1]
    a = s_mat / y[:, None]
    b = 1.0 - g * fixed / y
    w = np.ones_like(y)
    coef = np.full(k, g)
    for _ in range(4):
        sw = np.sqrt(w)[:, None]
        lhs = np.concatenate([a * sw, math.sqrt(ridge) * np.eye(k) / g])
        rhs = np.concatenate([b * sw[:, 0], math.sqrt(ridge) * np.ones(k)])
        coef, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
        r = np.abs(a @ coef - b)
        w = np.where(r <= HUBER, 1.0, HUBER / np.maximum(r, 1e-12))
    return g, np.maximum(coef, 0.05 * g)


def _predict(g: float, coef: np.ndarray | None, s_mat: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    return g * fixed + (s_mat @ coef if coef is not None else g * s_mat.sum(1))


def _loo(fit: Callable[[np.ndarray], tuple[float, np.ndarray | None]], s_mat, fixed, y) -> np.ndarray:
    """Leave-one-out relative errors of a fitting rule."""
    out = np.empty_like(y)
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        g, coef = fit(m)
        out[i] = _predict(g, coef, s_mat[i : i + 1], fixed[i : i + 1])[0] / y[i] - 1.0
    return out


def fit_transfer(pred: Predictor, samples: list[Sample], method: str = "auto") -> dict[str, Any]:
    """Fit the adaptation of ``pred`` to the samples: ``{"method", "global", "type_factor", "loo", ...}``.

    ``method``: ``global`` | ``family`` | ``auto`` (the one with the lower leave-one-out RMSE).
    """
    s_mat, fixed, y, types = _design(pred, samples)
    rules: dict[str, Callable[[np.ndarray], tuple[float, np.ndarray | None]]] = {
        "global": lambda m: (_global(s_mat[m], fixed[m], y[m]), None)
    }
    if len(y) >= MIN_FAMILY and method != "global":
        for lam in RIDGES:
            rules[f"family:{lam:g}"] = lambda m, lam=lam: _family(s_mat[m], fixed[m], y[m], lam)
    if method == "family" and len(rules) > 1:
        rules.pop("global")
    loo = {name: _loo(rule, s_mat, fixed, y) for name, rule in rules.items()} if len(y) >= 3 else {}
    best = min(loo, key=lambda n: float(np.sqrt(np.mean(loo[n] ** 2)))) if loo else next(iter(rules))
    g, coef = rules[best](np.ones(len(y), bool))
    resid = _predict(g, coef, s_mat, fixed) / y - 1.0
    return {
        "method": best.split(":")[0],
        "ridge": float(best.split(":")[1]) if ":" in best else None,
        "global": g,
        "type_factor": {t: float(c) for t, c in zip(types, coef)} if coef is not None else {},
        "loo_rmse_pct": {n: round(float(np.sqrt(np.mean(v**2))) * 100, 2) for n, v in loo.items()},
        "residuals_pct": [round(float(r) * 100, 2) for r in resid],
        "source_ratio_median": float(np.median(y / np.maximum(s_mat.sum(1) + fixed, 1e-9))),
    }


def _rescaled(c: dict[str, Any], g: float, factor: dict[str, float]) -> dict[str, Any]:
    ts = dict(c.get("type_scale", {}))
    types = set(ts) | set(factor)
    return {
        "scale": c["scale"] * g,
        "per_unit_ms": c["per_unit_ms"] * g,
        "offset_ms": c["offset_ms"] * g,
        "type_scale": {t: ts.get(t, c["scale"]) * factor.get(t, g) for t in sorted(types)},
    }


def apply_transfer(pred: Predictor, fit: dict[str, Any]) -> Predictor:
    """A copy of ``pred`` whose calibration terms carry the fitted factors (same file format)."""
    out = Predictor.from_json(pred.to_json())
    g, factor = fit["global"], fit["type_factor"]
    out.calibration = _rescaled(pred.calibration, g, factor)
    out.calibration_by_input = {k: _rescaled(c, g, factor) for k, c in pred.calibration_by_input.items()}
    return out


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def calibration_archs(
    spaces: list[Any], k: int, seed: int, pred: Predictor | None = None, choice: str = "random", pool: int = 8
) -> list[tuple[Any, list[Any]]]:
    """``k`` distinct buildable archs sampled from the spaces in turn, with their units.

    ``choice="kcentre"`` (needs ``pred``): from ``pool * k`` sampled archs, the ``k`` farthest apart in
    the source's per-block-type contributions (:func:`hynas.latency.fewshot.kcentre`), so every
    family factor is fitted from archs that differ in it (on NAS-Bench-201 tables this choice beat
    random draws for per-op factors on every device pair, docs/BENCHMARKS.md)."""
    import random

    from hynas.latency.profile import _arch_units
    from hynas.space import sample

    if choice not in ("random", "kcentre"):
        raise ValueError(f"unknown calibration arch choice {choice!r}: use random or kcentre")
    want = k if choice == "random" or pred is None else pool * k
    rng, out, seen = random.Random(seed), [], set()
    for i in range(200 * want):
        if len(out) >= want:
            break
        a = sample(spaces[i % len(spaces)], rng)
        units = _arch_units(a)
        if units is not None and a.hash not in seen:
            seen.add(a.hash)
            out.append((a, units))
    if want == k or len(out) <= k:
        return out[:k]
    from hynas.latency.fewshot import kcentre

    s_mat, fixed, _, _ = _design(pred, [Sample(a, u, 1.0) for a, u in out])
    picked = kcentre(np.concatenate([s_mat, fixed[:, None]], axis=1), k, rng.randrange(len(out)))
    return [out[i] for i in picked]


def _best_loo(fit: dict[str, Any]) -> float:
    return min(fit["loo_rmse_pct"].values()) if fit["loo_rmse_pct"] else math.inf


def choose_rescaling(source: Predictor, timed: list[tuple[Any, list[Any], float, float]], nominal: float,
                     method: str = "auto") -> tuple[list[Sample], dict[str, Any], bool]:
    """The calibration samples with or without the reference-network rescaling, whichever the fit
    predicts better (lower leave-one-out error): ``(samples, fit, rescaled)``.

    With one thread on the thread-CPU clock the rescaling removes this machine's drift; with
    several threads on wall clock a small reference network can be what the noise hits hardest
    (on a 2-vCPU VM its times varied 8x where whole archs varied 2x), and rescaling by it
    would add that noise to every sample. The raw times must fit at least twice as well
    (``RAW_MARGIN``) to win: on 20-arch draws of pools measured on a quiet 2-vCPU VM that drops the
    rescaling for onnxruntime on 2 threads (wall clock) and keeps it for one thread."""
    scaled = [Sample(a, u, ms * nominal / ref) for a, u, ms, ref in timed]
    fit = fit_transfer(source, scaled, method)
    raw = [Sample(a, u, ms) for a, u, ms, _ in timed]
    fit_raw = fit_transfer(source, raw, method)
    if _best_loo(fit_raw) < RAW_MARGIN * _best_loo(fit):
        fit_raw["loo_rmse_pct_rescaled"] = fit["loo_rmse_pct"]
        return raw, fit_raw, False
    fit["loo_rmse_pct_raw"] = fit_raw["loo_rmse_pct"]
    return scaled, fit, True


def calibrate_here(
    source: Predictor,
    source_path: str | Path,
    target: str,
    spaces: list[str],
    archs: int = DEFAULT_ARCHS,
    budget_s: float = DEFAULT_BUDGET_S,
    seed: int = 0,
    method: str = "auto",
    progress: Callable[[str], None] = lambda _: None,
    choice: str = "random",
) -> Predictor:
    """Time up to ``archs`` archs of the spaces on ``target`` here (stopping at ``budget_s`` once 5 are
    timed), fit the adaptation and return the adapted predictor with its ``meta["calibration"]`` record.
    ``choice``: how the archs are picked (:func:`calibration_archs`). ``kcentre`` spreads them over the
    source's block-type mix, farthest first (a budget stop still leaves a spread set), but its archs
    are larger: 17% (default space) to 40% (ascan) more predicted ms for 20 archs, so more timing;
    not yet measured on whole archs, hence not the default."""
    from hynas.errors import UserError
    from hynas.latency.measure import measure_latency
    from hynas.latency.profile import nominal_reference
    from hynas.latency.result import machine_fingerprint
    from hynas.latency.target import resolve_target
    from hynas.space import load_space

    t0 = time.perf_counter()
    t = resolve_target(target)
    timed: list[tuple[Any, list[Any], float, float]] = []
    failures: list[str] = []
    for a, units in calibration_archs([load_space(s) for s in spaces], archs, seed, source, choice):
        if len(timed) >= min(5, archs) and time.perf_counter() - t0 > budget_s:
            break
        try:
            r = measure_latency(a, target)
        except Exception as e:  # noqa: BLE001 - one arch that fails to export must not end calibration
            failures.append(f"{a.hash}: {type(e).__name__}: {e}")
            continue
        timed.append((a, units, r.median_ms, r.reference_ms or 1.0))
        progress(f"  calibration arch {len(timed)}: {r.median_ms:.3f} ms")
    if len(timed) < min(3, archs):
        if not failures:  # nothing failed: the space is too small to calibrate on
            raise UserError(f"calibration needs 3 distinct archs, but the space holds only {len(timed)} (a fixed "
                            f"architecture?); time it directly with --measure, or keep the predictor as shipped "
                            f"with --no-calibrate.")
        raise UserError(f"calibration timed only {len(timed)} archs on {target} ({'; '.join(failures[:3])}).")
    nominal = nominal_reference([ref for *_, ref in timed])
    samples, fit, rescaled = choose_rescaling(source, timed, nominal, method)
    out = apply_transfer(source, fit)
    out.target = t.describe()
    out.fingerprint = machine_fingerprint(t.runtime_versions())
    out.reference_nominal_ms = nominal if rescaled else None  # None: this target's times are used raw
    out.meta = {
        **source.meta,
        "calibration": {
            "source": str(source_path),
            "source_sha256": file_sha256(source_path),
            "source_fingerprint": source.fingerprint,
            "source_target": source.target.get("name"),
            "k": len(samples),
            "archs": [s.arch.hash for s in samples],
            "spaces": list(spaces),
            "choice": choice,
            "reference_rescaling": rescaled,
            "measured_ms": [round(s.ms, 5) for s in samples],
            "fit": fit,
            "fingerprint": out.fingerprint,
            "runtime_versions": out.fingerprint["runtime_versions"],
            "seconds": round(time.perf_counter() - t0, 1),
            "failures": failures,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    return out
