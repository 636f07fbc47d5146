"""Noise floor of latency measurement on this machine: the same archs measured twice, three ways.

Usage (numbers in docs/BENCHMARKS.md, "Latency predictors"):

    .venv/bin/python benchmarks/latency_noise.py --space default --n 30

For each of N archs (ort-cpu, batch 1, 1 thread) two passes, each timing the arch with
(a) wall clock, (b) the thread's CPU time, (c) thread CPU time rescaled by the reference
network interleaved with the repeats (what hynas measures). Reports, for each way, how
often pass 2 lies within ±10% / ±5% of pass 1, RMSE of the relative difference, Spearman.
"""

from __future__ import annotations

import argparse
import json
import os
import random


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="default")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=777)
    a = ap.parse_args(argv)

    from hynas.build import build_model
    from hynas.latency import resolve_target
    from hynas.latency.predictor import accuracy
    from hynas.latency.reference import reference_run
    from hynas.latency.timing import TimingPolicy, time_callable
    from hynas.space import load_space, sample

    t = resolve_target("ort-cpu")
    sp = load_space(a.space)
    rng = random.Random(a.seed)
    archs = [sample(sp, rng) for _ in range(a.n)]
    runs = []
    for x in archs:
        res = x.input["resolution"]
        runs.append(t.prepare(build_model(x).eval(), (1, x.input["channels"], res, res)))
    ref, pol = reference_run(t), TimingPolicy()
    passes = []
    for _ in range(2):
        rows = []
        for run in runs:
            wall = time_callable(run, pol, "wall").median_ms
            cpu = time_callable(run, pol, "thread-cpu", ref)
            rows.append((wall, cpu.median_ms, cpu.median_ms / cpu.reference_ms))
        passes.append(rows)
    out = {"space": a.space, "n": a.n, "load_average_1m": os.getloadavg()[0]}
    for i, name in enumerate(("wall", "thread_cpu", "thread_cpu_reference_normalized")):
        out[name] = accuracy([r[i] for r in passes[1]], [r[i] for r in passes[0]])
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
