"""Tally of the entry-point fuzzer (tests/reliability/fuzz_entrypoints.py): bad inputs per entry point,
run through the real CLI in-process with a deadline, and what happened to each.

    .venv/bin/python benchmarks/reliability_fuzz.py --per-entry 260 --out benchmarks/results/reliability_fuzz.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.fuzz_entrypoints import run_many

COLUMNS = ("tried", "refused", "refused_unnamed", "accepted", "traceback", "hang")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-entry", type=int, default=260)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hynas-fuzz-") as root:
        tally = run_many(args.per_entry, Path(root), seed=args.seed, timeout_s=args.timeout)
    took = time.monotonic() - start
    print("| entry point | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for entry, row in tally.items():
        print(f"| {entry} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    total = {c: sum(r[c] for r in tally.values()) for c in COLUMNS}
    print("| all | " + " | ".join(str(total[c]) for c in COLUMNS) + " |")
    print(f"{took:.0f} s")
    for entry, row in tally.items():
        for e in row["examples"]:
            print(f"{entry}: {e}")
    if args.out:
        Path(args.out).write_text(json.dumps({"per_entry": args.per_entry, "seed": args.seed, "seconds": round(took),
                                              "total": total, "tally": tally}, indent=2))


if __name__ == "__main__":
    main()
