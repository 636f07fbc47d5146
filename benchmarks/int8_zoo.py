"""Int8 accuracy drop of the reference models (Q-HyViT's question), scaled to the digits run as landmarks are.

Each reference in search_spaces/reference/ is adapted like a plot landmark (input set to digits'
1x32x32 / 10 classes, widths divided by the smallest power of two that brings it under
--max-params), trained with the proxy trainer, then quantized as the ``ort-cpu-int8`` target
deploys it (``hynas.proxy.int8``: fused, ONNX, static QDQ, per-channel weights, calibration on
training images) and scored on the held-out split in onnxruntime: fp32, int8, and int8 with the
bridge blocks (first attention block after convolution, per stage) kept in fp32. Where int8
loses more than one point, each block type is quantized alone to show which carries the loss.

    .venv/bin/python benchmarks/int8_zoo.py [--models a,b] [--steps 300] [--max-params 1e6]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def row(name: str, args: argparse.Namespace, data) -> str:
    from hynas.build import build_model
    from hynas.cost import count_params
    from hynas.errors import ArchError, CandidateError
    from hynas.proxy.int8 import int8_accuracy
    from hynas.proxy.trainer import train_proxy
    from hynas.results.landmarks import adapt
    from hynas.space import fixed_arch, load_space

    arch = fixed_arch(load_space(REPO / "search_spaces" / "reference" / f"{name}.yaml"))
    try:
        small, div = adapt(arch, {"channels": 1, "resolution": 32, "classes": 10}, args.max_params)
    except ArchError as e:
        return f"| {name} | not run: {str(e)[:90]} | | | | | | |"
    torch.manual_seed(0)
    model = build_model(small)
    t0 = time.time()
    train_proxy(model, data, steps=args.steps, batch_size=64, seed=0)
    try:
        r = int8_accuracy(model, small, data, max_eval=args.eval)
        worst = ""
        if r.drop > 0.01:
            by_type = int8_accuracy(model, small, data, max_eval=args.eval, keep_bridges=False, sensitivity=True)
            t, acc = min(by_type.only_type.items(), key=lambda kv: kv[1])
            worst = f"{t} alone: {100 * acc:.1f}"
    except CandidateError as e:
        return f"| {name} | int8 failed: {str(e)[:90]} | | | | | | |"
    keep = f"{100 * r.keep_bridges_accuracy:.1f}" if r.keep_bridges_accuracy is not None else "(no bridge)"
    return (f"| {name} | /{div}, {count_params(model) / 1e6:.2f} M | {100 * r.fp32_accuracy:.1f} "
            f"| {100 * r.int8_accuracy:.1f} | {100 * r.drop:+.1f} | {keep} | {', '.join(r.bridges) or '-'} "
            f"| {worst or '-'} | {time.time() - t0:.0f} s |")


def main() -> None:
    from hynas.proxy.data import load_dataset
    from hynas.results.landmarks import reference_files

    p = argparse.ArgumentParser()
    p.add_argument("--models", default="", help="comma-separated reference stems (default: all)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--max-params", type=float, default=1e6)
    p.add_argument("--eval", type=int, default=1000, help="held-out images scored")
    args = p.parse_args()
    names = [s for s in args.models.split(",") if s] or [f.stem for f in reference_files()]
    torch.set_num_threads(1)
    data = load_dataset("digits")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, digits, "
          f"{args.steps} steps, <= {args.max_params:.0f} params")
    print("| model | scale, params | fp32 % | int8 % | drop (points) | int8, bridges fp32 % | bridges "
          "| worst block type (int8 alone) | wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        print(row(name, args, data), flush=True)


if __name__ == "__main__":
    main()
