"""Int8 accuracy drop of the reference models (Q-HyViT's question), scaled to the digits run as landmarks are.

Each reference in search_spaces/reference/ is adapted like a plot landmark (input set to digits'
1x32x32 / 10 classes, widths divided by the smallest power of two that brings it under
--max-params), trained with the proxy trainer, then quantized as the ``ort-cpu-int8`` target
deploys it (``hynas.proxy.int8``: fused, ONNX, static QDQ, per-channel weights, calibration on
training images) and scored on the held-out split in onnxruntime: fp32, int8, and int8 with the
bridge blocks (first attention block after convolution, per stage) kept in fp32. Where int8
loses more than one point, each block type is quantized alone and each block kept in fp32
alone, to show which carries the loss. With --latency the scaled network is also timed at
batch 1 on ``ort-cpu`` (fp32), ``ort-cpu-int8`` and the bridges-fp32 mixed graph (same session
settings and clock as ``ort-cpu-int8``); run it then under the timing lock:

    flock /tmp/hynas-timing.lock nice taskset -c 1 .venv/bin/python benchmarks/int8_zoo.py \
        [--models a,b] [--steps 300] [--max-params 1e6] [--latency] [--jsonl rows.jsonl]

A reference whose attention windows do not tile the 32 px maps (MaxViT-T's 7x7 windows) has each
stage's window lowered to the largest value that does; the row says so. Rows are printed (and
appended to --jsonl) as each model finishes, so a partial run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
INPUT = {"channels": 1, "resolution": 32, "classes": 10}


def fit_windows(arch: Any) -> tuple[Any, str]:
    """``arch`` with each refusing stage's ``window`` knob lowered until its maps tile (and a note saying so)."""
    from hynas.build import block_plan
    from hynas.errors import ArchError
    from hynas.space.arch import Arch

    d, notes = arch.to_dict(), []
    for _ in range(64):
        try:
            block_plan(Arch(d))
            return Arch(d), ", ".join(notes)
        except ArchError as e:
            m = re.search(r"stage (\d+)", str(e))
            if not m or "window" not in str(e):
                raise
            st = d["stages"][int(m.group(1)) - 1]
            w = next(b["knobs"]["window"] for b in st["blocks"] if "window" in b["knobs"])
            if w <= 1:
                raise
            for b in st["blocks"]:
                if "window" in b["knobs"]:
                    b["knobs"]["window"] = w - 1
            name = st.get("name") or m.group(1)
            notes = [n for n in notes if not n.startswith(f"{name} ")] + [f"{name} window {w - 1}"]
    raise ArchError("no window tiles the maps")


def _adapt(name: str, max_params: float) -> tuple[Any, int, str]:
    from hynas.errors import ArchError
    from hynas.results.landmarks import adapt
    from hynas.space import fixed_arch, load_space

    arch = fixed_arch(load_space(REPO / "search_spaces" / "reference" / f"{name}.yaml"))
    try:
        small, div = adapt(arch, INPUT, max_params)
        return small, div, ""
    except ArchError as e:
        if "window" not in str(e):
            raise
    fitted, note = fit_windows(arch.with_input(**INPUT))
    small, div = adapt(fitted, INPUT, max_params)
    return small, div, note


def latencies_ms(model: torch.nn.Module, arch: Any, resolution: int = INPUT["resolution"]) -> dict[str, float]:
    """Batch-1 medians on ort-cpu, ort-cpu-int8 and the int8 graph with the bridge blocks kept fp32."""
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.measure import time_module
    from hynas.latency.onnx_io import export_bytes
    from hynas.latency.reference import reference_run
    from hynas.latency.target import resolve_target
    from hynas.latency.targets.ort import ort_session
    from hynas.latency.timing import time_callable
    from hynas.proxy.int8 import _nodes, _nodes_of, block_refs, quantize_calibrated

    net = fuse_for_inference(model.cpu().eval())
    shape = arch.input_shape(1, resolution)
    out = {t: time_module(net, shape, resolve_target(t)).median_ms for t in ("ort-cpu", "ort-cpu-int8")}
    bridges = [r for r in block_refs(arch) if r.bridge]
    if bridges:
        fp32 = export_bytes(net, shape)
        g = torch.Generator().manual_seed(0)
        calib = [torch.randn(*shape, generator=g).numpy() for _ in range(4)]  # as ort-cpu-int8 times it
        mixed = quantize_calibrated(fp32, calib, exclude=_nodes_of(_nodes(fp32), bridges))
        target = resolve_target("ort-cpu-int8")
        sess = ort_session(mixed, target.threads)
        feed = {"input": calib[0]}
        out["int8-bridges-fp32"] = time_callable(lambda: sess.run(None, feed), clock=target.clock,
                                                 reference=reference_run(target)).median_ms
    return out


def measure(name: str, args: argparse.Namespace, data: Any) -> dict[str, Any]:
    from hynas.build import build_model
    from hynas.cost import count_params
    from hynas.errors import ArchError, CandidateError
    from hynas.proxy.int8 import int8_accuracy
    from hynas.proxy.trainer import train_proxy

    rec: dict[str, Any] = {"model": name}
    try:
        small, div, note = _adapt(name, args.max_params)
    except ArchError as e:
        return rec | {"error": f"not run: {str(e)[:120]}"}
    torch.manual_seed(0)
    model = build_model(small)
    t0 = time.time()
    train = train_proxy(model, data, steps=args.steps, batch_size=64, seed=0)
    rec |= {"divisor": div, "params": count_params(model), "note": note, "train_val_accuracy": train.val_accuracy}
    try:
        r = int8_accuracy(model, small, data, max_eval=args.eval)
        rec |= r.as_dict()
        if r.drop > 0.01:
            s = int8_accuracy(model, small, data, max_eval=args.eval, keep_bridges=False, sensitivity=True)
            rec |= {"only_type": s.only_type, "keep_one": s.keep_one}
    except CandidateError as e:
        rec["error"] = f"int8 failed: {str(e)[:120]}"
    if args.latency:
        rec["latency_ms"] = latencies_ms(model, small)
    rec["wall_s"] = time.time() - t0
    return rec


def markdown(rec: dict[str, Any], latency: bool) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"
    if "fp32_accuracy" not in rec:
        return f"| {rec['model']} | {rec.get('error', '')} |"
    scale = f"/{rec['divisor']}, {rec['params'] / 1e6:.2f} M" + (f" ({rec['note']})" if rec["note"] else "")
    keep = pct(rec["keep_bridges_accuracy"]) if rec["bridges"] else "(no bridge)"
    worst = "-"
    if rec.get("only_type"):
        t, acc = min(rec["only_type"].items(), key=lambda kv: kv[1])
        worst = f"{t} alone: {100 * acc:.1f}"
    cells = [rec["model"], scale, pct(rec["fp32_accuracy"]), pct(rec["int8_accuracy"]), f"{100 * rec['drop']:+.1f}",
             keep, ", ".join(rec["bridges"]) or "-", worst]
    if latency:
        lat = rec.get("latency_ms", {})
        cells += [f"{lat[k]:.3f}" if k in lat else "-" for k in ("ort-cpu", "ort-cpu-int8", "int8-bridges-fp32")]
    return "| " + " | ".join(cells) + f" | {rec['wall_s']:.0f} s |"


def main() -> None:
    from hynas.proxy.data import load_dataset
    from hynas.results.landmarks import reference_dims, reference_files

    p = argparse.ArgumentParser()
    p.add_argument("--models", default="", help="comma-separated reference stems (default: every 2-D one)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--max-params", type=float, default=1e6)
    p.add_argument("--eval", type=int, default=1000, help="held-out images scored")
    p.add_argument("--latency", action="store_true", help="also time fp32, int8 and bridges-fp32 at batch 1")
    p.add_argument("--jsonl", type=Path, help="append each model's full record (attribution included) here")
    args = p.parse_args()
    names = [s for s in args.models.split(",") if s] or [f.stem for f in reference_files() if reference_dims(f) == 2]
    torch.set_num_threads(1)
    data = load_dataset("digits")
    print(f"# {platform.machine()}, torch {torch.__version__}, digits, {args.steps} steps, "
          f"<= {args.max_params:.0f} params, {args.eval} held-out images")
    head = "| model | scale, params | fp32 % | int8 % | drop (points) | int8, bridges fp32 % | bridges " \
           "| int8 of the worst block type alone |"
    if args.latency:
        head += " ort-cpu ms | ort-cpu-int8 ms | int8 bridges-fp32 ms |"
    print(head + " wall |")
    print("|---" * (head.count("|")) + "|")
    for name in names:
        rec = measure(name, args, data)
        print(markdown(rec, args.latency), flush=True)
        if args.jsonl:
            with args.jsonl.open("a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
