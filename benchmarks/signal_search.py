"""A real 1-D search end to end: `hynas search --space signal --dataset modulation`, plot, export, per-SNR accuracy.

Runs the CLI exactly as a user would, from a clean run directory:

    hynas search --space signal --dataset modulation --budget B --train-steps S --time-budget T --run-dir RUN
    hynas plot RUN                      (ClST and Squeezeformer-XS drawn as landmarks, widths scaled)
    hynas export RUN --pick knee --out RUN/knee/model.py --weights --train-steps S

then loads the exported knee as a user would (its model.py imported on its own, the .pt read with
``torch.load(weights_only=True)``) and scores it on the held-out modulation split per SNR band. The
ClST landmark is the plot's adapted arch (same widths divisor); for its per-SNR figure it is trained the
way export trains the knee (the run's recipe at S steps, the run's seed) and scored the same way.

    flock /tmp/hynas-timing.lock nice taskset -c 1 .venv/bin/python benchmarks/signal_search.py \
        --out benchmarks/results/signal_search.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
HYNAS = str(ROOT / ".venv" / "bin" / "hynas")
BANDS = {"-10..-2 dB": (-10, -2), "0..8 dB": (0, 8), "10..18 dB": (10, 18)}


def machine() -> dict[str, Any]:
    """CPU model, affinity and load average, recorded beside every figure."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "affinity": sorted(os.sched_getaffinity(0)), "loadavg": list(os.getloadavg()),
            "torch": torch.__version__}


def per_snr(model: torch.nn.Module, data: Any) -> dict[str, Any]:
    """Held-out accuracy overall, per SNR and per SNR band, from per-frame hits in the split's order."""
    from hynas.proxy.signals import accuracy_by_snr, modulation_snr

    model = model.cpu().eval()
    with torch.no_grad():
        hits = torch.cat([model(data.val_x[i:i + 500]).argmax(1) == data.val_y[i:i + 500]
                          for i in range(0, len(data.val_y), 500)]).numpy()
    snr = modulation_snr("val")
    assert len(snr) == len(hits), "held-out split and its SNR list differ in length"
    bands = {name: float(hits[(snr >= lo) & (snr <= hi)].mean()) for name, (lo, hi) in BANDS.items()}
    return {"overall": float(hits.mean()), "bands": bands,
            "by_snr": {str(k): round(v, 4) for k, v in accuracy_by_snr(hits, snr).items()}}


def load_export(model_file: Path) -> torch.nn.Module:
    """The exported model.py imported on its own (not via hynas), its weights read tensors-only."""
    spec = importlib.util.spec_from_file_location(f"exported_{model_file.stem}", model_file)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.build()
    model.load_state_dict(torch.load(model_file.with_suffix(".pt"), map_location="cpu", weights_only=True))
    return model.eval()


def cli(args: list[str], log: list[dict[str, Any]]) -> str:
    """Run one hynas command; its wall time and command line go into the report."""
    t0 = time.perf_counter()
    proc = subprocess.run([HYNAS, *args], check=False, capture_output=True, text=True, cwd=ROOT)
    log.append({"command": "hynas " + shlex.join(args), "rc": proc.returncode,
                "seconds": round(time.perf_counter() - t0, 1), "loadavg_after": list(os.getloadavg())})
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"failed: hynas {shlex.join(args)}")
    return proc.stdout


def front_table(run_dir: Path) -> tuple[list[dict[str, Any]], int]:
    from hynas.export.pick import pick_trial
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    rows = [{"trial": t.number, **{k: round(float(v), 4) for k, v in t.values.items()},
             "params": t.attrs.get("params"), "macs": t.attrs.get("macs"), "blocks": _blocks(t.arch)}
            for t in sorted(run.front(), key=lambda t: t.values["latency_ms"])]
    return rows, pick_trial(run, "knee").number


def _blocks(arch: Any) -> str:
    """A short genotype: stem width, then each stage's block kinds and width."""
    d = arch.to_dict()
    parts = [f"{d['stem']['type']}@{d['stem']['out']}"]
    for st in d["stages"]:
        down = st["downsample"]["type"]
        kinds = ([] if down == "none" else [down]) + [b["type"] for b in st["blocks"]]
        parts.append(f"{st['name']}:" + "+".join(kinds) + f"@{st['blocks'][-1]['out'] if st['blocks'] else '-'}")
    return " ".join(parts)


def clst_landmark(run_dir: Path, steps: int) -> dict[str, Any]:
    """The ClST landmark as plotted, trained like the exported knee and scored per SNR."""
    from hynas.build import build_model
    from hynas.export.bundle import run_recipe
    from hynas.proxy.data import load_dataset
    from hynas.proxy.trainer import train_proxy
    from hynas.results.landmarks import score_landmarks
    from hynas.results.trials import load_run
    from hynas.space.arch import Arch

    run = load_run(run_dir)
    lm = next(x for x in score_landmarks(run, ["clst"]) if x.name == "clst")  # cached by `hynas plot`: no rescoring
    if lm.arch is None:
        raise SystemExit(f"ClST landmark not drawn: {lm.skipped}")
    arch = Arch(lm.arch)
    recipe = run_recipe(run, steps)
    data = load_dataset("modulation", recipe=recipe)
    torch.manual_seed(int(run.meta["config"].get("seed", 0)))
    model = build_model(arch)
    res = train_proxy(model, data, recipe=recipe)
    return {"label": lm.label, "divisor": lm.divisor, "landmark_values": lm.values,
            "landmark_params": lm.attrs.get("params"), "landmark_macs": lm.attrs.get("macs"), f"accuracy_after_{steps}_steps": float(res.val_accuracy),
            "per_snr": per_snr(model, data)}


def collect(run_dir: Path, model_file: Path, out: Path) -> None:
    """The report from what already exists (a plot still scoring its other landmarks, the knee exported by hand)."""
    from hynas.proxy.data import load_dataset
    from hynas.results.landmarks import load_cache
    from hynas.results.trials import load_run

    report: dict[str, Any] = {"script": " ".join([sys.executable, *sys.argv]), "machine_start": machine()}
    report["trials_complete"] = len(load_run(run_dir).complete())
    report["front"], knee = front_table(run_dir)
    model = load_export(model_file)
    report["knee"] = {"trial": knee, "model_file": str(model_file.relative_to(ROOT)),
                      "params": sum(p.numel() for p in model.parameters()),
                      "per_snr": per_snr(model, load_dataset("modulation"))}
    report["landmarks_cached"] = list(load_cache(run_dir).values())
    if (run_dir / "pareto.json").is_file():
        report["pareto"] = json.loads((run_dir / "pareto.json").read_text())
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["knee"], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run-dir", default="runs/bench_signal")
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--time-budget", default="25m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/signal_search.json")
    ap.add_argument("--reuse", action="store_true", help="keep the run directory: the search resumes (nothing "
                    "left to do once its budget is spent) and plot reads its cached landmarks")
    ap.add_argument("--collect", default="", help="run no command: read the finished search in --run-dir, the "
                    "landmark scores `hynas plot` cached, and this already exported knee model.py (+ .pt)")
    args = ap.parse_args()
    run_dir = (ROOT / args.run_dir).resolve()
    if args.collect:
        return collect(run_dir, Path(args.collect).resolve(), ROOT / args.out)
    if not args.reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
    report: dict[str, Any] = {"script": " ".join([sys.executable, *sys.argv]), "machine_start": machine(),
                              "commands": []}
    log = report["commands"]
    cli(["search", "--space", "signal", "--dataset", "modulation", "--budget", str(args.budget),
         "--train-steps", str(args.train_steps), "--time-budget", args.time_budget, "--seed", str(args.seed),
         "--run-dir", str(run_dir)], log)
    cli(["plot", str(run_dir)], log)
    model_file = run_dir / "knee" / "model.py"
    cli(["export", str(run_dir), "--pick", "knee", "--out", str(model_file), "--weights",
         "--train-steps", str(args.train_steps)], log)
    from hynas.proxy.data import load_dataset
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    report["trials_complete"] = len(run.complete())
    report["front"], knee = front_table(run_dir)
    report["pareto"] = json.loads((run_dir / "pareto.json").read_text())
    report["knee"] = {"trial": knee, "model_file": str(model_file.relative_to(ROOT)),
                      "params": sum(p.numel() for p in load_export(model_file).parameters()),
                      "per_snr": per_snr(load_export(model_file), load_dataset("modulation"))}
    report["clst"] = clst_landmark(run_dir, args.train_steps)
    report["machine_end"] = machine()
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"knee": report["knee"], "clst": {k: v for k, v in report["clst"].items()}}, indent=1))


if __name__ == "__main__":
    main()
