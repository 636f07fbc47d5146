"""fp32 vs int8 vs int8 with the bridge blocks fp32 for the front of a search run, with the latency of each.

Each front trial's arch is trained again exactly as the search trained it (the run's recipe and
seed, the same seeded initial weights: the script prints the stored and the re-trained fp32
accuracy side by side), quantized as ``ort-cpu-int8`` deploys it (``hynas.proxy.int8``) and scored
in onnxruntime on the held-out split; then timed at batch 1 on ``ort-cpu``, ``ort-cpu-int8`` and
the bridges-fp32 mixed graph (``benchmarks/int8_zoo.py``'s ``latencies_ms``). Timing: run it as

    flock /tmp/hynas-timing.lock nice taskset -c 1 .venv/bin/python benchmarks/int8_front.py RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    from int8_zoo import latencies_ms

    from hynas.proxy.int8 import int8_accuracy
    from hynas.results.landmarks import _config, _space
    from hynas.results.trials import load_run
    from hynas.search.problems.evaluate import Evaluator
    from hynas.search.problems.scorers import SCORERS

    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--jsonl", type=Path, help="append each front trial's record here")
    p.add_argument("--no-latency", action="store_true", help="accuracies only (no timing, no lock needed)")
    args = p.parse_args()
    torch.set_num_threads(1)
    run = load_run(args.run_dir)
    cfg = _config(run.meta)
    ev = Evaluator(cfg, _space(run.meta))
    size = ev.recipe.train_size(ev.data.resolution)
    front = sorted(run.front(), key=lambda t: t.values["latency_ms"])
    print(f"# {args.run_dir}: {len(run.complete())} complete trials, {len(front)} on the front "
          f"({', '.join(cfg.objectives)}), {cfg.train_steps} steps on {cfg.dataset}")
    print("| trial | arch | fp32 % (search / again) | int8 % | drop (points) | int8, bridges fp32 % | bridges "
          "| ort-cpu ms | ort-cpu-int8 ms | int8 bridges-fp32 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in front:
        model = ev._seeded_model(t.arch)
        acc, _ = SCORERS.get(cfg.proxy).run(model, ev.data, cfg, None)
        r = int8_accuracy(model, ev.proxy_arch(t.arch), ev.data, resolution=size, keep_bridges=True,
                          seed=cfg.seed, max_eval=1000)
        lat = {} if args.no_latency else latencies_ms(model, ev.latency_arch(t.arch), ev.input_resolution)
        keep = f"{100 * r.keep_bridges_accuracy:.1f}" if r.keep_bridges_accuracy is not None else "(no bridge)"
        cells = [f"#{t.number}", t.arch.summary().replace(" | ", " / "), f"{100 * t.values['accuracy']:.1f} / {100 * acc:.1f}",
                 f"{100 * r.int8_accuracy:.1f}", f"{100 * r.drop:+.1f}", keep, ", ".join(r.bridges) or "-",
                 *(f"{lat[k]:.3f}" if k in lat else "-" for k in ("ort-cpu", "ort-cpu-int8", "int8-bridges-fp32"))]
        print("| " + " | ".join(cells) + " |", flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps({"trial": t.number, "stored": t.values, "stored_int8_drop": t.attrs.get("int8_drop"),
                                    "retrained_accuracy": acc, **r.as_dict(), "latency_ms": lat}) + "\n")


if __name__ == "__main__":
    main()
