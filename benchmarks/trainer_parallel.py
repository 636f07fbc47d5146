"""Parallel throughput of the local backend: candidates per hour with --workers 1 vs --workers N, same search.

Three runs of the same seeded random search (predicted latency, so nothing is timed while
others train), one after the other in fresh run directories:

- ``--workers 1``: one candidate at a time on every core of the process (the default);
- ``--workers 1 --threads 1``: one candidate at a time on one core;
- ``--workers N``: N child processes, each pinned to its share of the cores.

Candidates per hour are counted over the search phase (the search's own "in X s this session",
after data loading and latency calibration) and over the whole command. ``ceiling`` is the
ratio N workers would reach if none ever waited for work: N x the summed candidate seconds of
``--workers 1`` over those of ``--workers N`` (how much slower a candidate trains on its share
of the cores than on all of them, the threads' own speed-up included). Run it on the cores it may
use, under the timing lock:

    env -u HYNAS_THREADS flock /tmp/hynas-timing.lock taskset -c 0,1 python benchmarks/trainer_parallel.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(workers: int, threads: int, a: argparse.Namespace, root: Path) -> dict:
    cmd = [sys.executable, "-m", "hynas", "search", "--sampler", "random", "--seed", "0", "--budget", str(a.budget),
           "--train-steps", str(a.steps), "--dataset", a.dataset, "--target", "ort-cpu", "--workers", str(workers),
           "--threads", str(threads), "--run-dir", str(root / f"w{workers}t{threads}")]
    load0 = os.getloadavg()[0]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.time() - t0
    m = re.search(r"evaluated \d+ candidates in (\d+) s this session: (\d+) complete", out)
    search_s, done = (float(m.group(1)), int(m.group(2))) if m else (wall, 0)
    per = [float(s) for s in re.findall(r"complete .*· ([\d.]+) s$", out, flags=re.MULTILINE)]
    return {"workers": workers, "threads": threads or "all", "complete": done, "wall_s": round(wall, 1),
            "search_s": search_s, "per_hour": round(done / search_s * 3600, 1),
            "per_hour_wall": round(done / wall * 3600, 1), "candidate_s": per,
            "candidate_s_sum": round(sum(per), 1), "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "trainer_parallel.json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(1, 0, a, Path(tmp)), run(1, 1, a, Path(tmp)), run(a.workers, 0, a, Path(tmp))]
    res = {"cores": len(os.sched_getaffinity(0)), "budget": a.budget, "steps": a.steps, "dataset": a.dataset,
           "rows": rows, "ceiling": round(a.workers * rows[0]["candidate_s_sum"] / rows[2]["candidate_s_sum"], 3),
           "ratio": round(rows[2]["per_hour"] / rows[0]["per_hour"], 3),
           "ratio_vs_one_thread": round(rows[2]["per_hour"] / rows[1]["per_hour"], 3),
           "ratio_wall": round(rows[2]["per_hour_wall"] / rows[0]["per_hour_wall"], 3),
           "load_after": os.getloadavg()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
