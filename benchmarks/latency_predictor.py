"""Accuracy of a latency predictor on held-out archs, beside the noise floor and a MACs-only baseline.

Usage (the numbers in docs/BENCHMARKS.md, "Latency predictors"):

    .venv/bin/python benchmarks/latency_predictor.py --target ort-cpu --space ascan --n 100 --noise-n 30

Samples N archs of the space with a seed the profiler does not use (and skips any arch the
predictor was calibrated on), measures each on the target (median of repeats, with the
interleaved reference network), predicts it, and reports: share within ±10% and ±5% of
the measured median, RMSE of the relative error, Spearman. Measured medians are compared
at the predictor's nominal machine speed (rescaled by the reference network, see
hynas/latency/reference.py) and raw. The noise floor is the first NOISE_N archs measured a
second time. The MACs-only baseline (latency = k * MACs) gets k by 2-fold cross-fitting
on the same measurements (generous to it). Prediction cost is per arch, cold and warm.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="ort-cpu")
    ap.add_argument("--space", default="ascan")
    ap.add_argument(
        "--predictor", default="", help="predictor JSON (default: the target's, as predict_latency finds it)"
    )
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--noise-n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--out", default="", help="write all measurements and results as JSON here")
    a = ap.parse_args(argv)

    from hynas.latency import measure_latency
    from hynas.latency.predictor import Predictor, accuracy, load_predictor
    from hynas.space import load_space, sample

    pred = Predictor.load(a.predictor) if a.predictor else load_predictor(a.target)[0]
    seen = set(pred.meta.get("calibration_archs", []))
    sp = load_space(a.space)
    rng = random.Random(a.seed)
    archs: dict[str, object] = {}
    while len(archs) < a.n:
        x = sample(sp, rng)
        if x.hash not in seen:
            archs[x.hash] = x
    rows = []
    t0 = time.time()
    for i, x in enumerate(archs.values()):
        r = measure_latency(x, a.target)
        rows.append(
            {
                "hash": x.hash,
                "arch": x.to_dict(),
                "median_ms": r.median_ms,
                "p10_ms": r.p10_ms,
                "p90_ms": r.p90_ms,
                "reference_ms": r.reference_ms,
                "nominal_ms": pred.at_nominal_speed(r.median_ms, r.reference_ms),
                "predicted_ms": pred.predict_ms(x),
                "macs": _macs(x),
            }
        )
        print(
            f"[{i + 1}/{a.n}] {x.hash} measured {r.median_ms:.3f} ms (nominal {rows[-1]['nominal_ms']:.3f}) "
            f"predicted {rows[-1]['predicted_ms']:.3f} ms  {time.time() - t0:.0f}s",
            file=sys.stderr,
        )
    noise = []
    for row, x in list(zip(rows, archs.values()))[: a.noise_n]:
        r = measure_latency(x, a.target)
        noise.append((row, r.median_ms, pred.at_nominal_speed(r.median_ms, r.reference_ms)))
    meas = [r["nominal_ms"] for r in rows]
    res = {
        "target": a.target,
        "space": a.space,
        "n": len(rows),
        "seed": a.seed,
        "fingerprint": pred.fingerprint,
        "predictor_meta": pred.meta,
        "predictor_vs_nominal": accuracy([r["predicted_ms"] for r in rows], meas),
        "predictor_vs_raw": accuracy([r["predicted_ms"] for r in rows], [r["median_ms"] for r in rows]),
        "macs_baseline_vs_nominal": _macs_crossfit(rows),
        "noise_floor_nominal": accuracy([n for _, _, n in noise], [r["nominal_ms"] for r, _, _ in noise]),
        "noise_floor_raw": accuracy([m for _, m, _ in noise], [r["median_ms"] for r, _, _ in noise]),
        "predict_cost_ms": _predict_cost(pred, list(archs.values())),
        "median_measured_ms": statistics.median(meas),
        "seconds": round(time.time() - t0, 1),
    }
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(res | {"rows": rows}, f, indent=1)
    print(json.dumps(res, indent=1))
    return res


def _macs(arch: object) -> float:
    from hynas.cost import analytic_macs

    return float(analytic_macs(arch))


def _macs_crossfit(rows: list[dict]) -> dict:
    from hynas.latency.predictor import accuracy

    pred, meas = [], []
    for k in range(2):
        fit = [r for i, r in enumerate(rows) if i % 2 != k]
        scale = sum(r["macs"] / r["nominal_ms"] for r in fit) / sum(
            (r["macs"] / r["nominal_ms"]) ** 2 for r in fit
        )
        test = [r for i, r in enumerate(rows) if i % 2 == k]
        pred += [scale * r["macs"] for r in test]
        meas += [r["nominal_ms"] for r in test]
    return accuracy(pred, meas)


def _predict_cost(pred: object, archs: list) -> dict:
    """Milliseconds per arch for predict_ms: cold (fresh unit cache) and warm, median over the archs."""
    from hynas.latency.predictor import Predictor

    fresh = Predictor.from_json(pred.to_json())
    cold, warm = [], []
    for x in archs:
        t = time.perf_counter()
        fresh.predict_ms(x)
        cold.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        fresh.predict_ms(x)
        warm.append((time.perf_counter() - t) * 1e3)
    return {
        "cold_median_ms": statistics.median(cold),
        "cold_max_ms": max(cold),
        "warm_median_ms": statistics.median(warm),
    }


if __name__ == "__main__":
    main()
