"""Export equivalence at scale: N random archs per shipped space (+ every reference model).

Each generated model.py is loaded in a fresh interpreter with hynas blocked, given the
built model's weights (torch.load(weights_only=True)), compared on a random batch of 2
(max abs diff must be <= 1e-5) and exported to ONNX. Archs are checked as sampled (full
width, the space's own resolution).

    .venv/bin/python benchmarks/export_equivalence.py --per-space 200 --out /tmp/export_eq.json

Prints one line per space: checked, passed, worst diff, ONNX exports, failures, seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-space", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=25, help="archs per fresh interpreter")
    ap.add_argument("--spaces", default="", help="comma-separated subset (default: all shipped + reference)")
    ap.add_argument("--max-minutes-per-space", type=float, default=0.0, help="stop a space early (0: never)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="export_equivalence.json")
    args = ap.parse_args()

    from hynas.export.equivalence import check_archs, shipped_archs

    sets = shipped_archs(args.per_space, seed=args.seed)
    wanted = [s for s in args.spaces.split(",") if s] or sorted(sets)
    report = {}
    for space in wanted:
        t0, rows = time.perf_counter(), []
        archs = sets[space]
        for i in range(0, len(archs), args.chunk):
            with tempfile.TemporaryDirectory() as tmp:
                rows += check_archs(archs[i:i + args.chunk], Path(tmp), onnx=True)
            if args.max_minutes_per_space and time.perf_counter() - t0 > 60 * args.max_minutes_per_space:
                break
        diffs = [r.max_abs_diff for r in rows if r.max_abs_diff is not None]
        fails = [f"{r.name}: {r.error}" for r in rows if r.error or (r.max_abs_diff or 0) > 1e-5]
        report[space] = {"checked": len(rows), "passed": len(rows) - len(fails), "worst_max_abs_diff": max(diffs, default=None),
                         "onnx_exported": sum(r.onnx for r in rows), "failures": fails[:20],
                         "seconds": round(time.perf_counter() - t0, 1)}
        r = report[space]
        print(f"{space:12s} checked {r['checked']:4d}  passed {r['passed']:4d}  worst diff {r['worst_max_abs_diff']:.2e}  "
              f"onnx {r['onnx_exported']:4d}  failures {len(fails)}  {r['seconds']:.0f} s", flush=True)
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
