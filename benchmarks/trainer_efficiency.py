"""Trainer efficiency: hynas's training step rate against a minimal plain PyTorch loop.

Same model (one arch of a space, built at the resolution asked, same initial weights), same
in-memory batch of the same size, same device, precision and thread count; the plain loop
is the textbook five lines (forward, label-smoothed cross-entropy, zero_grad, backward,
AdamW step) over pre-made tensors. Both run ``--steps`` steps per repeat, in ABBA order
(plain, hynas, hynas, plain) so drift of a shared machine hits both alike; the rate is
images per second of training (hynas's evaluation excluded, its per-step schedule, loss
check, batch sampling and bookkeeping included). Ratio = hynas / plain per arch.

    flock /tmp/hynas-timing.lock taskset -c 1 python benchmarks/trainer_efficiency.py --space ascan --archs 5 --resolution 96
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hynas.build import build_model
from hynas.proxy.data import from_arrays
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space, sample


def plain_rate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int, lr: float) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    model.train()
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def hynas_rate(model: torch.nn.Module, data, steps: int, batch: int, lr: float, threads: int) -> float:
    recipe = TrainRecipe(steps=steps, batch_size=batch, lr=lr, eval_every=steps, threads=threads, device="cpu",
                         precision="off")
    return train_proxy(model, data, recipe=recipe).images_per_s


def buildable(space, count: int, resolution: int):
    """The first ``count`` archs of ``sample(space, Random(i))``, i = 0, 1, ..., that build at ``resolution``
    (e.g. a MaxViT block with window 7 refuses the 12x12 map of a 96-px input)."""
    from hynas.errors import ArchError

    i = found = 0
    while found < count:
        arch = sample(space, random.Random(i)).with_input(channels=3, classes=10, resolution=resolution)
        torch.manual_seed(0)
        try:
            model = build_model(arch)
        except ArchError:
            i += 1
            continue
        yield i, arch, model
        i, found = i + 1, found + 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="ascan")
    p.add_argument("--archs", type=int, default=5)
    p.add_argument("--resolution", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "trainer_efficiency.json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    n = 4 * a.batch_size
    images = rng.integers(0, 256, (n, a.resolution, a.resolution, 3), dtype=np.uint8)
    data = from_arrays("random", images, rng.integers(0, 10, n), val_images=images[:a.batch_size],
                       val_labels=rng.integers(0, 10, a.batch_size))
    space, rows = load_space(a.space), []
    for i, arch, model in buildable(space, a.archs, a.resolution):
        plain_rate(model, data.train_x, data.train_y, 2, a.batch_size, 1e-3)  # warm-up (allocator, kernels)
        plain, ours = [], []
        for _ in range(a.repeats):
            plain.append(plain_rate(model, data.train_x, data.train_y, a.steps, a.batch_size, 1e-3))
            ours.append(hynas_rate(model, data, a.steps, a.batch_size, 1e-3, a.threads))
            ours.append(hynas_rate(model, data, a.steps, a.batch_size, 1e-3, a.threads))
            plain.append(plain_rate(model, data.train_x, data.train_y, a.steps, a.batch_size, 1e-3))
        row = {"arch": i, "hash": arch.hash, "summary": arch.summary(),
               "plain_img_s": statistics.median(plain), "hynas_img_s": statistics.median(ours)}
        row["ratio"] = row["hynas_img_s"] / row["plain_img_s"]
        rows.append(row)
        print(f"arch {i} {arch.hash}: plain {row['plain_img_s']:.1f} img/s, hynas {row['hynas_img_s']:.1f} img/s, "
              f"ratio {row['ratio']:.3f}", flush=True)
    load = os.getloadavg()
    summary = {"space": a.space, "resolution": a.resolution, "batch": a.batch_size, "steps": a.steps,
               "repeats": a.repeats, "threads": a.threads, "device": "cpu", "precision": "fp32",
               "load_after": [round(v, 2) for v in load], "rows": rows,
               "median_ratio": statistics.median(r["ratio"] for r in rows), "min_ratio": min(r["ratio"] for r in rows)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(summary, indent=1))
    print(f"median ratio {summary['median_ratio']:.3f}, min {summary['min_ratio']:.3f}; load {load}")


if __name__ == "__main__":
    main()
