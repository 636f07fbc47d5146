"""How well cheap proxies rank hybrids of the default (AsCAN-style) space against longer training.

Usage: python benchmarks/proxy_hybrid.py --n 30 --ref-steps 200 --short-steps 20 --short-steps-r16 40
For --n archs sampled (seeded) from the space, on the embedded digits: every zero-cost
proxy, short trainings of --short-steps, and a reference training of --ref-steps (same
recipe, same seed). Writes per-arch rows (scores and seconds) and the Spearman of every
proxy against the reference accuracy to benchmarks/results/proxy_hybrid.json. --shard i/k
splits the archs over k processes; --merge combines their files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from hynas.build import build_model
from hynas.proxy.data import load_dataset
from hynas.proxy.trainer import TrainConfig, train_proxy
from hynas.proxy.zero_cost import ZERO_COST, rank_average, score
from hynas.space import load_space, sample


def fresh_model(arch, data, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(arch.with_input(channels=data.channels, classes=data.classes, resolution=data.resolution))


def timed(fn) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return float(value), round(time.perf_counter() - t0, 3)


def reused_trainings(path: str | None) -> dict[str, dict]:
    """hash -> training columns of an earlier result (its ``reference`` renamed ``train<its steps>``).

    Training is deterministic (same arch, seed, recipe -> same accuracy), so an earlier run's
    trainings of the same archs are reused instead of paid for again; their seconds come along.
    """
    if not path:
        return {}
    res = json.loads(Path(path).read_text())
    steps = res.get("ref_steps") or int(res["command"].split("--ref-steps")[1].split()[0])
    out = {}
    for r in res["rows"]:
        cols = {k: v for k, v in r.items() if k.startswith("train")}
        cols[f"train{steps}"], cols[f"train{steps}_s"] = r["reference"], r["reference_s"]
        out[r["hash"]] = cols
    return out


def score_arch(arch, data, args: argparse.Namespace, reused: dict | None = None) -> dict:
    """Zero-cost proxies, short trainings (full and half resolution), then the reference training."""
    row: dict = {"arch": arch.to_dict(), "hash": arch.hash, **(reused or {})}
    model = fresh_model(arch, data, args.seed)
    for name in ZERO_COST.names():
        row[name], row[f"{name}_s"] = timed(lambda n=name: score(n, model, data, batch_size=args.zc_batch,
                                                                 seed=args.seed))
    runs = [(f"train{s}", TrainConfig(steps=s, seed=args.seed)) for s in args.short_steps]
    runs += [(f"train{s}_r16", TrainConfig(steps=s, seed=args.seed, resolution=16)) for s in args.short_steps_r16]
    runs.append(("reference", TrainConfig(steps=args.ref_steps, seed=args.seed)))
    if f"train{args.ref_steps}" in row:  # an earlier run's training of the reference budget is the reference
        row["reference"], row["reference_s"] = row.pop(f"train{args.ref_steps}"), row.pop(f"train{args.ref_steps}_s")
    for key, cfg in runs:
        if key in row:
            continue
        res = train_proxy(fresh_model(arch, data, args.seed), data, config=cfg)
        row[key], row[f"{key}_s"] = res.val_accuracy, round(res.seconds, 3)
    return row


def summarize(rows: list[dict]) -> dict:
    ref = [r["reference"] for r in rows]
    keys = [k for k in rows[0] if k.endswith("_s") and k != "reference_s"]
    out = {}
    for k in keys:
        name = k[:-2]
        out[name] = {"spearman": float(spearmanr([r[name] for r in rows], ref).statistic),
                     "seconds_per_arch": sum(r[k] for r in rows) / len(rows)}
    for combo in (("synflow", "naswot"), ("naswot", "params"), ("synflow", "naswot", "jacob_cov")):
        name = "+".join(combo)
        out[name] = {"spearman": float(spearmanr(rank_average(rows, list(combo)), ref).statistic),
                     "seconds_per_arch": sum(out[c]["seconds_per_arch"] for c in combo)}
    out["reference"] = {"seconds_per_arch": sum(r["reference_s"] for r in rows) / len(rows),
                        "accuracy_min": min(ref), "accuracy_max": max(ref)}
    return out


def write(out: Path, rows: list[dict], meta: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "n": len(rows), "summary": summarize(rows), "rows": rows}, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="default")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--ref-steps", type=int, default=400)
    ap.add_argument("--short-steps", type=int, nargs="*", default=[20, 40])
    ap.add_argument("--short-steps-r16", type=int, nargs="*", default=[], help="short trainings at 16x16 input")
    ap.add_argument("--zc-batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--out", default="benchmarks/results/proxy_hybrid.json")
    ap.add_argument("--merge", nargs="*")
    ap.add_argument("--reverse", action="store_true", help="score the shard from its end (a helper process)")
    ap.add_argument("--reuse", help="an earlier result JSON whose trainings of the same archs are copied")
    args = ap.parse_args(argv)
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        rows = list({r["hash"]: r for p in parts for r in p["rows"]}.values())  # a --reverse helper may overlap
        meta = {k: v for k, v in parts[0].items() if k not in ("n", "summary", "rows")}
        write(Path(args.out), rows, {**meta, "command": meta["command"] + f"  (x{len(parts)} shards, merged)"})
        print(json.dumps(summarize(rows), indent=1))
        return 0
    space, data = load_space(args.space), load_dataset("digits")
    rng = random.Random(args.seed)
    archs = [sample(space, rng) for _ in range(args.n)]
    i, k = (int(v) for v in args.shard.split("/"))
    meta = {"command": "python " + " ".join(sys.argv), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "threads": 1, "space": args.space, "data": data.describe(),
            "ref_steps": args.ref_steps, "zc_batch": args.zc_batch}
    out, reused = Path(args.out), reused_trainings(args.reuse)
    rows: list[dict] = json.loads(out.read_text())["rows"] if out.is_file() else []  # resume
    done = {r["hash"] for r in rows}
    for arch in (archs[i::k][::-1] if args.reverse else archs[i::k]):
        if arch.hash in done:
            continue
        rows.append(score_arch(arch, data, args, reused.get(arch.hash)))
        write(out, rows, {**meta, "loadavg_at_write": Path("/proc/loadavg").read_text().split()[:3]})
        print(len(rows), {kk: v for kk, v in rows[-1].items() if kk not in ("arch",)}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
