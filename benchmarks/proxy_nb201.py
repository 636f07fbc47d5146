"""Spearman of hynas's zero-cost proxies against NAS-Bench-201 CIFAR-10 test accuracy.

Usage: python benchmarks/proxy_nb201.py ../shared/data/nb201_cifar10.csv --n 1000
Samples --n architectures from the table (seeded), builds each NB201 network exactly
(hynas.proxy.nb201, params match the table), scores it with every proxy on one seeded
batch of the embedded digits (1 channel repeated to 3, 32x32) and writes per-arch rows
plus Spearman rho to benchmarks/results/proxy_nb201.json. Resumes from that file if it
holds rows for the same sample, so a long run can be interrupted.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from hynas.proxy.data import load_dataset
from hynas.proxy.nb201 import NB201Net, load_table
from hynas.proxy.trainer import deterministic
from hynas.proxy.zero_cost import batch, gradient_scores, rank_average, score

PROXIES = ("synflow", "naswot", "jacob_cov", "grad_norm", "snip", "params")
COMBOS = (("synflow", "naswot"), ("synflow", "naswot", "jacob_cov"))  # rank averages also reported


def summarize(rows: list[dict], proxies: tuple[str, ...]) -> dict[str, float]:
    acc = [r["cifar10_test_acc"] for r in rows]
    out = {p: float(spearmanr([r[p] for r in rows], acc).statistic) for p in proxies}
    out["table_params_M"] = float(spearmanr([r["params_M"] for r in rows], acc).statistic)
    for combo in COMBOS:
        out["+".join(combo)] = float(spearmanr(rank_average(rows, list(combo)), acc).statistic)
    return out


def score_arch(arch_str: str, data, proxies: tuple[str, ...], batch_size: int, seed: int) -> dict:
    """Every proxy on one freshly initialized net; grad_norm and snip share one backward pass."""
    torch.manual_seed(seed)
    net = NB201Net(arch_str, classes=data.classes)
    row: dict = {}
    for p in proxies:
        if p == "snip" and "grad_norm" in row:
            continue
        t0 = time.perf_counter()
        if p == "grad_norm":
            x, y = batch(data, batch_size, seed)
            with deterministic(seed, 1):
                row.update(gradient_scores(copy.deepcopy(net), x, y))
            row["snip_s"] = 0.0
        else:
            row[p] = score(p, net, data, batch_size=batch_size, seed=seed)
        row[f"{p}_s"] = round(time.perf_counter() - t0, 4)
    return row


def merge(files: list[str], out: Path) -> int:
    parts = [json.loads(Path(f).read_text()) for f in files]
    rows = list({r["arch_str"]: r for p in parts for r in p["rows"]}.values())  # a reversed helper may overlap
    result = {**parts[0], "command": parts[0]["command"] + f"  (x{len(parts)} shards, merged)", "n": len(rows),
              "mean_seconds": {p: sum(r[f"{p}_s"] for r in rows) / len(rows) for p in PROXIES},
              "spearman": summarize(rows, PROXIES), "rows": rows}
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("n", "spearman", "mean_seconds")}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default="benchmarks/results/proxy_nb201.json")
    ap.add_argument("--shard", default="0/1", help="i/k: score archs i, i+k, ... (run k processes, then --merge)")
    ap.add_argument("--merge", nargs="*", help="shard JSON files to merge into --out (no scoring)")
    ap.add_argument("--reverse", action="store_true", help="score the shard from its end (a helper process)")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, Path(args.out))
    table = load_table(args.csv)
    i, k = (int(v) for v in args.shard.split("/"))
    archs = random.Random(args.seed).sample(sorted(table), args.n)[i::k]
    if args.reverse:
        archs.reverse()
    data = load_dataset("digits").with_channels(3)
    out = Path(args.out)
    prev = json.loads(out.read_text()) if out.is_file() else {}
    rows = prev.get("rows", []) if prev.get("archs_seed") == args.seed else []
    t_start = time.perf_counter()
    for arch in archs[len(rows):]:
        row = {"arch_str": arch, **{k: table[arch][k] for k in ("cifar10_test_acc", "params_M")}}
        row.update(score_arch(arch, data, PROXIES, args.batch_size, args.seed))
        rows.append(row)
        if len(rows) % 25 == 0 or len(rows) == len(archs):
            result = {"command": "python " + " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "threads": 1, "data": data.describe(), "batch_size": args.batch_size,
                      "archs_seed": args.seed, "n": len(rows), "elapsed_s_this_run": round(time.perf_counter() - t_start),
                      "mean_seconds": {p: sum(r[f"{p}_s"] for r in rows) / len(rows) for p in PROXIES},
                      "spearman": summarize(rows, PROXIES), "rows": rows}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            print(f"{len(rows)}/{len(archs)} {json.dumps(result['spearman'])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
