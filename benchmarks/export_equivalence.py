"""Export equivalence at scale: N random archs per shipped space (+ every reference model).

Each generated model.py is loaded in a fresh interpreter with hynas blocked, given the
built model's weights (torch.load(weights_only=True)), compared on a random batch of 2
(max abs diff must be <= 1e-5) and exported to ONNX. Archs are checked as sampled (full
width, the space's own resolution).

    .venv/bin/python benchmarks/export_equivalence.py --per-space 200 --out /tmp/export_eq.json

Draws distinct archs (a space with fewer than N feasible archs gives all of them). An arch
passes when its diff is <= 1e-5 and its ONNX export succeeds. Prints one line per space:
drawn, checked, passed, worst diff, ONNX exports, failures, seconds; the JSON also records
the command line, the machine and the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-space", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=25, help="archs per fresh interpreter")
    ap.add_argument("--spaces", default="", help="comma-separated subset (default: all shipped + reference)")
    ap.add_argument("--max-minutes-per-space", type=float, default=0.0, help="stop a space early (0: never)")
    ap.add_argument("--skip", default="", help="SPACE=N,...: start SPACE at its N-th arch (continue an interrupted "
                                              "run: the draws are the same for the same seed)")
    ap.add_argument("--references", default="", help="comma-separated reference models (names in "
                                                   "search_spaces/reference/) to check instead of all of them")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="export_equivalence.json")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives with the tests
    from tests.export.equivalence import Check, check_archs, shipped_archs

    only = {s for s in args.spaces.split(",") if s} or None
    sets = shipped_archs(args.per_space, seed=args.seed, only=only)
    wanted = sorted(only) if only else sorted(sets)
    missing = sorted(set(wanted) - set(sets))
    if missing:
        ap.error(f"--spaces: no shipped space named {', '.join(missing)}; choose from the shipped spaces or 'reference'")
    refs = [r for r in args.references.split(",") if r]
    if refs:
        known = {n for n, _ in sets.get("reference", [])}
        if not known:
            ap.error("--references needs the 'reference' set (leave --spaces out or include 'reference')")
        if set(refs) - known:
            ap.error(f"--references: unknown {', '.join(sorted(set(refs) - known))}; choose from {', '.join(sorted(known))}")
        sets["reference"] = [(n, a) for n, a in sets["reference"] if n in refs]
    report: dict = {"command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
                    "machine": _cpu_model(), "cpus": os.cpu_count(),
                    "loadavg_start": _loadavg(), "spaces": {}}
    t_all = time.perf_counter()
    for space in wanted:
        t0, rows = time.perf_counter(), []
        skip = int(dict(kv.split("=") for kv in args.skip.split(",") if kv).get(space, 0))
        archs = sets[space][skip:]
        for i in range(0, len(archs), args.chunk):
            chunk = archs[i:i + args.chunk]
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    rows += check_archs(chunk, Path(tmp), onnx=True)
                except Exception as e:  # noqa: BLE001 - a crashed child fails every arch it held; go on
                    rows += [Check(n, None, False, f"{type(e).__name__}: {str(e)[-300:]}") for n, _ in chunk]
            report["spaces"][space] = dict(_summary(rows, len(archs), time.perf_counter() - t0), skipped_first=skip)
            report["loadavg_end"], report["seconds_total"] = _loadavg(), round(time.perf_counter() - t_all, 1)
            Path(args.out).write_text(json.dumps(report, indent=2))  # partial results survive an interrupted run
            print(f"  {space}: {len(rows)}/{len(archs)} checked, {time.perf_counter() - t0:.0f} s", flush=True)
            if args.max_minutes_per_space and time.perf_counter() - t0 > 60 * args.max_minutes_per_space:
                break
        r = report["spaces"][space]
        worst = "n/a" if r["worst_max_abs_diff"] is None else f"{r['worst_max_abs_diff']:.2e}"
        print(f"{space:12s} drawn {len(archs):4d}  checked {r['checked']:4d}  passed {r['passed']:4d}  worst diff {worst}  "
              f"onnx {r['onnx_exported']:4d}  failures {r['n_failures']}  {r['seconds']:.0f} s", flush=True)


def _summary(rows: list, drawn: int, seconds: float) -> dict:
    """Counts for one space; an arch fails on an error, a diff above 1e-5 or a missing ONNX export."""
    diffs = [r.max_abs_diff for r in rows if r.max_abs_diff is not None]
    fails = [f"{r.name}: {r.error or f'max abs diff {r.max_abs_diff:.2e}'}" for r in rows
             if r.error or r.max_abs_diff is None or r.max_abs_diff > 1e-5 or not r.onnx]
    return {"distinct_archs_drawn": drawn, "checked": len(rows), "passed": len(rows) - len(fails),
            "worst_max_abs_diff": max(diffs, default=None), "onnx_exported": sum(r.onnx for r in rows),
            "failures": fails[:50], "n_failures": len(fails), "seconds": round(seconds, 1)}


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()

def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unknown"

if __name__ == "__main__":
    main()
