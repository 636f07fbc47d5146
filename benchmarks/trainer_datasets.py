"""Which embedded dataset separates candidates: arch-to-arch spread vs seed-to-seed spread.

For each dataset, N fixed archs of a space (``sample(space, Random(1000 + i))``) are trained
with the search's own trainer at the demo's step count, each with S seeds (the seed sets the
initial weights, the batch order and the augmentation, as a search's ``--seed`` does). Per
dataset it reports the accuracy range over archs, the spread of the per-arch mean accuracy
(std over archs), the seed-to-seed spread of one arch (pooled std over seeds), their ratio,
and how well two seeds agree on the ranking of the archs (mean Spearman over seed pairs).
Results accumulate in a JSON file (re-running skips finished trainings).

    python benchmarks/trainer_datasets.py --datasets digits,cluttered --archs 10 --seeds 3 --steps 100
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from hynas.build import build_model
from hynas.proxy.data import load_dataset
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space, sample

OUT = Path(__file__).parent / "results" / "trainer_datasets.json"


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):  # average ranks over ties
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / den if den else 0.0


def train_one(space_name: str, arch_i: int, data, recipe: TrainRecipe) -> dict:
    """One arch trained as a search trains it: built at the training size, weights from the seed."""
    arch = sample(load_space(space_name), random.Random(1000 + arch_i))
    arch = arch.with_input(channels=data.channels, classes=data.classes, resolution=recipe.train_size(data.resolution))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        model = build_model(arch)
    res = train_proxy(model, data, recipe=recipe)
    seed = recipe.seed
    return {"arch": arch_i, "hash": arch.hash, "seed": seed, "acc": res.val_accuracy, "seconds": round(res.seconds, 2)}


def summarize(rows: list[dict], archs: int, seeds: int) -> dict:
    by = {(r["arch"], r["seed"]): r["acc"] for r in rows}
    done = [a for a in range(archs) if all((a, s) in by for s in range(seeds))]
    means = [statistics.fmean(by[(a, s)] for s in range(seeds)) for a in done]
    seed_var = [statistics.variance([by[(a, s)] for s in range(seeds)]) for a in done] if seeds > 1 else [0.0]
    pooled = statistics.fmean(seed_var) ** 0.5
    arch_std = statistics.stdev(means) if len(means) > 1 else 0.0
    rho = [spearman([by[(a, s)] for a in done], [by[(a, t)] for a in done])
           for s, t in itertools.combinations(range(seeds), 2)]
    return {"archs": len(done), "seeds": seeds, "min": min(means), "max": max(means), "arch_std": arch_std,
            "seed_std": pooled, "ratio": arch_std / pooled if pooled else float("inf"),
            "seed_spearman": statistics.fmean(rho) if rho else float("nan"),
            "s_per_training": statistics.fmean(r["seconds"] for r in rows)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="digits,cluttered")
    p.add_argument("--space", default="default")
    p.add_argument("--archs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--proxy-resolution", type=int, default=None,
                   help="train at this size (resize + centre crop), e.g. 32 for the 64-px cluttered set")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    store = json.loads(a.out.read_text()) if a.out.is_file() else {}
    for name in a.datasets.split(","):
        data = load_dataset(name)
        key = f"{name}@{a.space}@{a.steps}" + (f"@r{a.proxy_resolution}" if a.proxy_resolution else "")
        rows = store.setdefault(key, [])
        have = {(r["arch"], r["seed"]) for r in rows}
        for seed, i in itertools.product(range(a.seeds), range(a.archs)):
            if (i, seed) in have:
                continue
            t0 = time.time()
            recipe = TrainRecipe(steps=a.steps, seed=seed, proxy_resolution=a.proxy_resolution)
            rows.append(train_one(a.space, i, data, recipe))
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(store, indent=1))
            print(f"{key} arch {i} seed {seed}: {rows[-1]['acc']:.3f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    print("| dataset | archs x seeds | accuracy range over archs | std over archs | seed-to-seed std | ratio | "
          "seed-vs-seed Spearman | s/training |")
    print("|---|---|---|---|---|---|---|---|")
    for key, rows in store.items():
        if f"@{a.space}@{a.steps}" not in key:
            continue
        s = summarize(rows, a.archs, a.seeds)
        label = key.split("@")[0] + (f" (trained at {key.split('@r')[1]} px)" if "@r" in key else "")
        print(f"| {label} | {s['archs']} x {s['seeds']} | {s['min']:.3f}-{s['max']:.3f} | "
              f"{s['arch_std']:.4f} | {s['seed_std']:.4f} | {s['ratio']:.2f} | {s['seed_spearman']:.2f} | "
              f"{s['s_per_training']:.1f} |")


if __name__ == "__main__":
    main()
