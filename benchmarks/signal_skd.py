"""Signal knowledge distillation (SKD, as in ClST): a small 1-D student trained alone vs distilled from a teacher.

The teacher is made with the CLI, as a user would: the ClST reference (full width, 1,047,728 params) as
a one-arch search on the embedded ``modulation`` data, then ``hynas export --weights --train-steps T``
(trained longer than a search candidate). Or give ``--teacher DIR`` (a folder with model.py + model.pt,
e.g. the signal search's exported knee).

The student is a fixed ~45k-param arch (conv1d_stem x2 reduction, 2 mbconv1d, pool_linear). For each
seed it is trained twice with the same recipe (steps, batch, lr, schedule, seed, initial weights): once
alone, once with the recipe's ``teacher`` set, i.e. through ``train_proxy``'s distillation path, the one
``hynas search --teacher`` takes (``hynas.proxy.distill.recipe_loss``). Scored on the held-out split,
overall and per SNR band; mean and sample std over seeds.

    nice taskset -c 0 .venv/bin/python benchmarks/signal_skd.py --out benchmarks/results/signal_skd.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from signal_search import BANDS, ROOT, cli, load_export, machine, per_snr

STUDENT_YAML = """\
name: skd_student
input: {dims: 1, channels: 2, length: 128, classes: 11}
stem: {width: 32, blocks: {conv1d_stem: {kernel: 7, reduction: 2}}}
stages:
  - {name: s1, width: 32, downsample: none, pattern: [{count: 1, blocks: {mbconv1d: {expand: 4, kernel: 9}}}]}
  - {name: s2, width: 56, downsample: {conv1d_down: {}}, pattern: [{count: 1, blocks: {mbconv1d: {expand: 4, kernel: 9}}}]}
head: pool_linear
"""


def make_teacher(run_dir: Path, steps: int, log: list[dict[str, Any]]) -> Path:
    """ClST exported by the CLI after ``steps`` training steps; returns the folder holding model.py + model.pt."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cli(["search", "--space", "search_spaces/reference/clst.yaml", "--dataset", "modulation", "--budget", "1",
         "--train-steps", "50", "--seed", "0", "--no-calibrate", "--run-dir", str(run_dir)], log)
    cli(["export", str(run_dir), "--pick", "knee", "--out", str(run_dir / "model.py"), "--weights",
         "--train-steps", str(steps)], log)
    return run_dir


def train_student(arch: Any, data: Any, recipe: Any) -> dict[str, Any]:
    """One student run through hynas's trainer (distilled when the recipe names a teacher)."""
    from hynas.build import build_model
    from hynas.proxy.trainer import train_proxy

    torch.manual_seed(recipe.seed)  # same initial weights for the alone and the distilled run of a seed
    model = build_model(arch)
    t0 = time.perf_counter()
    res = train_proxy(model, data, recipe=recipe)
    out = per_snr(model, data)
    out.update(seed=recipe.seed, trainer_accuracy=float(res.val_accuracy), seconds=round(time.perf_counter() - t0, 1))
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds, overall and per band."""
    def ms(xs: list[float]) -> dict[str, float]:
        return {"mean": statistics.mean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}
    return {"overall": ms([r["overall"] for r in runs]),
            "bands": {b: ms([r["bands"][b] for r in runs]) for b in BANDS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", default="", help="folder with model.py + model.pt (default: make the ClST one)")
    ap.add_argument("--teacher-steps", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=300, help="student training steps (both arms)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument("--run-dir", default="runs/bench_skd_teacher")
    ap.add_argument("--out", default="benchmarks/results/signal_skd.json")
    args = ap.parse_args()

    from hynas.cost import count_params
    from hynas.proxy.data import load_dataset
    from hynas.proxy.recipe import TrainRecipe
    from hynas.space import fixed_arch, load_space

    report: dict[str, Any] = {"script": " ".join([sys.executable, *sys.argv]), "machine_start": machine(),
                              "commands": []}
    teacher = Path(args.teacher) if args.teacher else make_teacher(ROOT / args.run_dir, args.teacher_steps,
                                                                   report["commands"])
    data = load_dataset("modulation")
    tmodel = load_export(teacher / "model.py")
    report["teacher"] = {"path": str(teacher), "what": args.teacher or f"ClST reference, export --train-steps "
                         f"{args.teacher_steps}", "params": count_params(tmodel), "per_snr": per_snr(tmodel, data)}
    spec = ROOT / args.run_dir / "student.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(STUDENT_YAML, encoding="utf-8")
    from hynas.build import build_model

    arch = fixed_arch(load_space(spec))
    report["student"] = {"yaml": STUDENT_YAML, "params": count_params(build_model(arch))}
    base = TrainRecipe(steps=args.steps, batch_size=args.batch_size, distill_temperature=args.temperature,
                       distill_weight=args.weight)
    report["recipe"] = base.to_dict()
    arms: dict[str, list[dict[str, Any]]] = {"alone": [], "distilled": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        r = base.with_seed(seed)
        arms["alone"].append(train_student(arch, data, r))
        arms["distilled"].append(train_student(arch, data, TrainRecipe.from_dict({**r.to_dict(),
                                                                                   "teacher": str(teacher)})))
        print(seed, arms["alone"][-1]["overall"], arms["distilled"][-1]["overall"], flush=True)
    report["runs"] = arms
    report["summary"] = {k: summary(v) for k, v in arms.items()}
    report["machine_end"] = machine()
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"teacher": report["teacher"]["per_snr"]["overall"], **report["summary"]}, indent=1))


if __name__ == "__main__":
    main()
