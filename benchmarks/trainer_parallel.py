"""Parallel throughput of the local backend: candidates per hour with --workers 1 vs --workers N, same search.

Both runs are the same seeded random search (predicted latency, so nothing is timed while
others train), one after the other in fresh run directories; a candidate with --workers 1
trains on every core of the process, with --workers N each of N child processes gets its
share. Run it on the cores it may use, under the timing lock:

    flock /tmp/hynas-timing.lock taskset -c 0,1 python benchmarks/trainer_parallel.py --workers 2
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


def run(workers: int, a: argparse.Namespace, root: Path) -> dict:
    cmd = [sys.executable, "-m", "hynas", "search", "--sampler", "random", "--seed", "0", "--budget", str(a.budget),
           "--train-steps", str(a.steps), "--dataset", a.dataset, "--target", "ort-cpu", "--workers", str(workers),
           "--run-dir", str(root / f"w{workers}")]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.time() - t0
    m = re.search(r"(\d+) complete", out)
    done = int(m.group(1)) if m else 0
    return {"workers": workers, "complete": done, "wall_s": round(wall, 1), "per_hour": round(done / wall * 3600, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", type=int, default=8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "trainer_parallel.json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(1, a, Path(tmp)), run(a.workers, a, Path(tmp))]
    res = {"cores": len(os.sched_getaffinity(0)), "budget": a.budget, "steps": a.steps, "dataset": a.dataset,
           "rows": rows, "ratio": rows[1]["per_hour"] / rows[0]["per_hour"], "load_after": os.getloadavg()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
