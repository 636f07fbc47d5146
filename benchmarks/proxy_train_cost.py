"""CPU seconds and accuracy of the default short-training proxy (200 steps) on sampled hybrids.

Usage: python benchmarks/proxy_train_cost.py --n 5 [--steps 200]
Reports process CPU time (one thread) as well as wall time: on a busy shared machine the
CPU time is the honest estimate of what one free core would take.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch

from hynas.build import build_model
from hynas.cost import count_params
from hynas.proxy.data import load_dataset
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space, sample


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="default")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args(argv)
    space, data = load_space(args.space), load_dataset("digits")
    rng = random.Random(args.seed)
    for _ in range(args.n):
        arch = sample(space, rng).with_input(channels=data.channels, classes=data.classes, resolution=data.resolution)
        torch.manual_seed(0)
        model = build_model(arch)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = train_proxy(model, data, steps=args.steps, seed=0)
        print(json.dumps({"hash": arch.hash, "params": count_params(model), "steps": args.steps,
                          "cpu_s": round(time.process_time() - cpu0, 2), "wall_s": round(time.perf_counter() - wall0, 2),
                          "val_accuracy": res.val_accuracy, "history": res.history}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
