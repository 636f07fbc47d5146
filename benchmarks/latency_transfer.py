"""Transfer of a latency predictor to targets it never saw: measure, then adapt with K archs and score.

    # 1. measure a fixed pool of ascan archs on each target (50 to adapt from + 100 held out,
    #    the first 30 held-out ones timed twice for the noise floor); one target per call:
    flock /tmp/hynas-timing.lock taskset -c 1 .venv/bin/python benchmarks/latency_transfer.py measure \
        --target torch-cpu --out benchmarks/results/latency_transfer_torch-cpu.json
    # 2. adapt predictors/ort-cpu.json with K = 5, 10, 20, 50 of the 50 (20 random draws each) and score:
    .venv/bin/python benchmarks/latency_transfer.py score --source predictors/ort-cpu.json \
        benchmarks/results/latency_transfer_*.json

Every time is rescaled to the target's nominal speed here (the 10th percentile of the reference
network's times over the pool, as ``hynas calibrate`` does with its K archs).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

POOL_FIT, POOL_TEST, NOISE_N = 50, 100, 30


def pool(space: str, seed: int, exclude: set[str], n: int) -> list:
    from hynas.build import block_plan
    from hynas.errors import ArchError
    from hynas.space import load_space, sample

    sp, rng, out, seen = load_space(space), random.Random(seed), [], set(exclude)
    while len(out) < n:
        a = sample(sp, rng)
        if a.hash in seen:
            continue
        seen.add(a.hash)
        try:
            block_plan(a)
        except ArchError:
            continue
        out.append(a)
    return out


def _one(a, target: str) -> dict:
    from hynas.latency import measure_latency

    r = measure_latency(a, target)
    return {"hash": a.hash, "median_ms": r.median_ms, "p10_ms": r.p10_ms, "p90_ms": r.p90_ms,
            "reference_ms": r.reference_ms, "repeats": r.repeats}


def measure(args: argparse.Namespace) -> None:
    from hynas.latency import machine_fingerprint, resolve_target
    from hynas.latency.predictor import Predictor

    src = Predictor.load(args.source)
    n_fit, n_test, n_noise = args.n_fit, args.n_test, args.n_noise
    archs = pool(args.space, args.seed, set(src.meta.get("calibration_archs", [])), n_fit + n_test)
    t = resolve_target(args.target)
    t0, rows, load = time.time(), [], [_uptime()]
    for i, a in enumerate(archs):
        rows.append({**_one(a, args.target), "arch": json.loads(a.to_json()), "split": "fit" if i < n_fit else "test"})
        if i % 25 == 24:
            load.append(_uptime())
            print(f"{i + 1}/{len(archs)} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    again = [_one(a, args.target) for a in archs[n_fit:n_fit + n_noise]]
    load.append(_uptime())
    out = {"target": t.describe(), "fingerprint": machine_fingerprint(t.runtime_versions()), "space": args.space,
           "seed": args.seed, "seconds": round(time.time() - t0, 1), "load": load, "archs": rows, "again": again}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


def _uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--target", required=True)
    m.add_argument("--space", default="ascan")
    m.add_argument("--seed", type=int, default=2121)
    m.add_argument("--source", default="predictors/ort-cpu.json", help="its profiled archs are left out of the pool")
    m.add_argument("--out", required=True)
    m.add_argument("--n-fit", type=int, default=POOL_FIT)
    m.add_argument("--n-test", type=int, default=POOL_TEST)
    m.add_argument("--n-noise", type=int, default=NOISE_N)
    s = sub.add_parser("score")
    s.add_argument("--source", default="predictors/ort-cpu.json")
    s.add_argument("--draws", type=int, default=20)
    s.add_argument("--out", default="benchmarks/results/latency_transfer.json")
    s.add_argument("--raw", action="store_true", help="score raw medians (no reference-network rescaling)")
    s.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.cmd == "measure":
        measure(args)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from latency_transfer_score import score

        score(args)


if __name__ == "__main__":
    main()
