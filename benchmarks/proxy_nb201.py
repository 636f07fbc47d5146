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
from hynas.proxy.zero_cost import activation_scores, batch, gradient_scores, rank_average, score

PROXIES = ("synflow", "naswot", "jacob_cov", "grad_norm", "snip", "params")
COMBOS = (("synflow", "naswot"), ("synflow", "naswot", "jacob_cov"))  # rank averages also reported


def summarize(rows: list[dict], proxies: tuple[str, ...]) -> dict[str, float]:
    acc = [r["cifar10_test_acc"] for r in rows]
    out = {p: float(spearmanr([r[p] for r in rows], acc).statistic) for p in proxies}
    out["table_params_M"] = float(spearmanr([r["params_M"] for r in rows], acc).statistic)
    for combo in (c for c in COMBOS if set(c) <= set(proxies)):
        out["+".join(combo)] = float(spearmanr(rank_average(rows, list(combo)), acc).statistic)
    return out


def score_arch(arch_str: str, data, proxies: tuple[str, ...], batch_size: int, seed: int) -> dict:
    """Every proxy on one freshly initialized net; pairs that share a pass are scored together
    (grad_norm + snip: one backward; naswot + jacob_cov: one forward + backward), and the pass's
    time is booked on the first of the pair (the second gets 0)."""
    torch.manual_seed(seed)
    net = NB201Net(arch_str, classes=data.classes)
    shared = {"grad_norm": ("snip", gradient_scores), "naswot": ("jacob_cov", lambda m, x, y: activation_scores(m, x))}
    row: dict = {}
    for p in proxies:
        if p in row:
            continue
        t0 = time.perf_counter()
        if p in shared and shared[p][0] in proxies:
            partner, fn = shared[p]
            x, y = batch(data, batch_size, seed)
            with deterministic(seed, 1):
                row.update(fn(copy.deepcopy(net), x, y))
            row[f"{partner}_s"] = 0.0
        else:
            row[p] = score(p, net, data, batch_size=batch_size, seed=seed)
        row[f"{p}_s"] = round(time.perf_counter() - t0, 4)
    return row


def merge(files: list[str], out: Path) -> int:
    parts = [json.loads(Path(f).read_text()) for f in files]
    rows = list({r["arch_str"]: r for p in parts for r in p["rows"]}.values())  # a reversed helper may overlap
    proxies = tuple(parts[0].get("proxies", PROXIES))
    result = {**parts[0], "command": parts[0]["command"] + f"  (x{len(parts)} shards, merged)", "n": len(rows),
              "mean_seconds": {p: sum(r[f"{p}_s"] for r in rows) / len(rows) for p in proxies},
              "spearman": summarize(rows, proxies), "rows": rows}
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("n", "spearman", "mean_seconds")}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--proxies", nargs="*", default=list(PROXIES), choices=PROXIES,
                    help="score only these (synflow and params do not depend on the batch)")
    ap.add_argument("--out", default="benchmarks/results/proxy_nb201.json")
    ap.add_argument("--shard", default="0/1", help="i/k: score archs i, i+k, ... (run k processes, then --merge)")
    ap.add_argument("--merge", nargs="*", help="shard JSON files to merge into --out (no scoring)")
    ap.add_argument("--save-every", type=int, default=25)
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
    proxies = tuple(args.proxies)
    out = Path(args.out)
    prev = json.loads(out.read_text()) if out.is_file() else {}
    rows = prev.get("rows", []) if prev.get("archs_seed") == args.seed else []
    t_start = time.perf_counter()
    for arch in archs[len(rows):]:
        row = {"arch_str": arch, **{k: table[arch][k] for k in ("cifar10_test_acc", "params_M")}}
        row.update(score_arch(arch, data, proxies, args.batch_size, args.seed))
        rows.append(row)
        if len(rows) % args.save_every == 0 or len(rows) == len(archs):
            result = {"command": "python " + " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "threads": 1, "data": data.describe(), "batch_size": args.batch_size,
                      "proxies": list(proxies), "archs_seed": args.seed, "n": len(rows),
                      "elapsed_s_this_run": round(time.perf_counter() - t_start),
                      "loadavg_at_write": Path("/proc/loadavg").read_text().split()[:3],
                      "mean_seconds": {p: sum(r[f"{p}_s"] for r in rows) / len(rows) for p in proxies},
                      "spearman": summarize(rows, proxies), "rows": rows}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
            print(f"{len(rows)}/{len(archs)} {json.dumps(result['spearman'])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
