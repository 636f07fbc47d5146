"""Predicted (plan floor) vs measured peak activation memory, batch 1, fp32, on archs sampled from spaces.

    python benchmarks/activation_memory.py --spaces default:4,seg2d:4,signal:3,seg3d:2

Prints, per arch: space, index, predicted MB, measured MB, predicted / measured (arch i is sampled with
random.Random(i)).
"""

from __future__ import annotations

import argparse
import random

from hynas.cost import arch_cost, predict_activation_bytes
from hynas.space import load_space
from hynas.space.sampling import sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spaces", default="default:4,seg2d:4,signal:3,seg3d:2", help="SPACE:N,...")
    args = ap.parse_args()
    for item in args.spaces.split(","):
        name, n = item.split(":")
        space = load_space(name)
        for i in range(int(n)):
            a = sample(space, random.Random(i))
            pred, meas = predict_activation_bytes(a), arch_cost(a).peak_activation_bytes
            print(f"{name} {i} {pred / 2**20:.2f} {meas / 2**20:.2f} {pred / meas:.2f}")


if __name__ == "__main__":
    main()
