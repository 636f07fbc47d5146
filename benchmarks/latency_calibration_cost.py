"""What calibration on arrival costs here, and what it buys: the shipped predictor, calibrated on K archs
of the demo's space, against timing on candidates of that space.

    flock /tmp/hynas-timing.lock taskset -c 1 .venv/bin/python benchmarks/latency_calibration_cost.py \
        --target ort-cpu --space default --archs 20 --n 30 --out benchmarks/results/latency_calibration_cost.json

The candidates are ``--n`` archs sampled from the space with another seed than the calibration's
(the distribution the demo's search starts from); each is timed once (``--measure``'s timing) and
compared, raw and at this machine's nominal speed, with the shipped and the calibrated prediction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path


def main() -> None:
    from hynas.latency import measure_latency
    from hynas.latency.calibrate import calibrate_here, calibration_archs
    from hynas.latency.predictor import Predictor, accuracy, find_predictor
    from hynas.space import load_space

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="ort-cpu")
    ap.add_argument("--space", default="default")
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    load = [_uptime()]
    src_path = find_predictor(args.target)
    src = Predictor.load(src_path)
    t0 = time.perf_counter()
    cal = calibrate_here(src, src_path, args.target, [args.space], args.archs, budget_s=600.0)
    cal_s = time.perf_counter() - t0
    load.append(_uptime())
    seen = set(cal.meta["calibration"]["archs"])
    cands = [(a, u) for a, u in calibration_archs([load_space(args.space)], args.n + len(seen), 777)
             if a.hash not in seen][: args.n]
    rows = []
    for a, _ in cands:
        r = measure_latency(a, args.target)
        rows.append({"hash": a.hash, "measured_ms": r.median_ms, "reference_ms": r.reference_ms,
                     "nominal_ms": cal.at_nominal_speed(r.median_ms, r.reference_ms),
                     "shipped_ms": src.predict_ms(a), "calibrated_ms": cal.predict_ms(a)})
    load.append(_uptime())
    out = {"target": args.target, "space": args.space, "k": cal.meta["calibration"]["k"],
           "calibration_seconds": round(cal_s, 1), "fit": cal.meta["calibration"]["fit"], "load": load,
           "shipped_vs_measured": accuracy([r["shipped_ms"] for r in rows], [r["measured_ms"] for r in rows]),
           "calibrated_vs_measured": accuracy([r["calibrated_ms"] for r in rows], [r["measured_ms"] for r in rows]),
           "calibrated_vs_nominal": accuracy([r["calibrated_ms"] for r in rows], [r["nominal_ms"] for r in rows]),
           "candidates": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("candidates", "fit")}, indent=1))


def _uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
