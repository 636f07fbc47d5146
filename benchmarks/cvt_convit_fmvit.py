"""CvT-13 / ConViT-Ti reference counts, token pruning (keep ratio) and FMViT re-parameterisation.

Prints three markdown tables for docs/BENCHMARKS.md:

1. params and MACs of the two reference YAMLs at 224 against the official exact figures
   (hynas convention, and fvcore's default that also counts norms);
2. MACs and onnxruntime CPU latency of the two references with every attention block's
   ``keep_ratio`` set to 1.0 / 0.7 / 0.5 (pruning is not trained here: this is cost only);
3. latency of a small FMViT-style network before and after ``fuse_for_inference``, on
   onnxruntime (ort-cpu) and PyTorch eager (torch-cpu).

Latencies are batch 1, one intra-op thread (the targets' defaults). The machine is shared, so
each configuration is prepared once and timed in ROUNDS interleaved rounds; the table gives
the median of the rounds' medians and, in brackets, the lowest and highest round median.

Run: ``.venv/bin/python benchmarks/cvt_convit_fmvit.py`` (about 4-6 minutes on 2 cores).
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from hynas.blocks.reparam import fuse_for_inference
from hynas.build import build_model
from hynas.cost import arch_cost, count_macs
from hynas.latency.target import resolve_target
from hynas.latency.timing import time_callable
from hynas.space import fixed_arch, load_space
from hynas.space.arch import Arch

REF = Path(__file__).resolve().parents[1] / "search_spaces" / "reference"
EXACT = {"cvt_13": (19.997e6, 4.585e9), "convit_ti": (5.711e6, 1.257e9)}
ROUNDS = 3


def counts_table() -> list[str]:
    from fvcore.nn import FlopCountAnalysis

    from hynas.cost import _sdpa_macs

    rows = ["| model | params M (exact) | GMACs hynas | GMACs with norms | exact GMACs | hynas vs exact |",
            "|---|---|---|---|---|---|"]
    for name, (params, macs) in EXACT.items():
        arch = fixed_arch(load_space(REF / f"{name}.yaml"))
        cost = arch_cost(arch, 224, memory=False)
        fca = FlopCountAnalysis(build_model(arch).eval(), (torch.zeros(1, 3, 224, 224),))
        fca.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        rows.append(f"| {name} | {cost.params / 1e6:.3f} ({params / 1e6:.3f}) | {cost.macs / 1e9:.3f} | "
                    f"{fca.total() / 1e9:.3f} | {macs / 1e9:.3f} | {100 * (cost.macs / macs - 1):+.2f}% |")
    return rows


def with_keep_ratio(arch: Arch, ratio: float) -> Arch:
    d = arch.to_dict()
    for st in d["stages"]:
        for b in st["blocks"]:
            if "keep_ratio" in b["knobs"]:
                b["knobs"]["keep_ratio"] = ratio
    return Arch(d)


def interleaved_ms(runs: dict[str, object], target: str) -> dict[str, str]:
    """'median (min-max)' of ROUNDS round medians per prepared callable, rounds interleaved."""
    clock = resolve_target(target).clock
    medians: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(ROUNDS):
        for key, run in runs.items():
            medians[key].append(time_callable(run, clock=clock).median_ms)  # type: ignore[arg-type]
    return {k: f"{sorted(v)[len(v) // 2]:.1f} ({min(v):.1f}-{max(v):.1f})" for k, v in medians.items()}


def pruning_table() -> list[str]:
    rows = ["| model | keep ratio | GMACs | ort-cpu ms |", "|---|---|---|---|"]
    target, shape = resolve_target("ort-cpu"), (1, 3, 224, 224)
    runs, macs = {}, {}
    for name in EXACT:
        base = fixed_arch(load_space(REF / f"{name}.yaml"))
        for ratio in (1.0, 0.7, 0.5):
            torch.manual_seed(0)
            model = build_model(with_keep_ratio(base, ratio)).eval()
            macs[(name, ratio)] = count_macs(model, torch.zeros(shape))
            runs[(name, ratio)] = target.prepare(model, shape)
    ms = interleaved_ms(runs, "ort-cpu")
    rows += [f"| {n} | {r} | {macs[(n, r)] / 1e9:.3f} | {ms[(n, r)]} |" for n, r in runs]
    return rows


def fmvit_arch() -> Arch:
    cfb = {"head_dim": 32, "mlp_ratio": 3, "rep_groups": 4, "act": "relu"}
    fmb = {"head_dim": 32, "mlp_ratio": 2, "low_branches": 2, "pool": 1, "rep_groups": 4, "act": "relu"}
    down = {"type": "conv_down", "knobs": {"kernel": 3, "norm": "bn"}}

    def stage(name: str, blocks: list[tuple[str, int, dict]], ds: dict) -> dict:
        return {"name": name, "downsample": ds, "blocks": [{"type": t, "out": w, "knobs": k} for t, w, k in blocks]}

    return Arch({"input": {"channels": 3, "resolution": 224, "classes": 1000},
                 "stem": {"type": "conv_stem", "out": 32, "knobs": {"kernel": 3, "reduction": 4, "layers": 2,
                                                                     "act": "relu"}},
                 "stages": [stage("s1", [("fmvit_cfb", 64, cfb)] * 2, {"type": "none", "knobs": {}}),
                            stage("s2", [("fmvit_cfb", 128, cfb)] * 2, down),
                            stage("s3", [("fmvit_cfb", 256, cfb)] * 3 + [("fmvit_fmb", 256, fmb)], down),
                            stage("s4", [("fmvit_cfb", 512, cfb), ("fmvit_fmb", 512, fmb)], down)],
                 "head": {"type": "pool_linear", "knobs": {"norm": "none", "dropout": 0.0}}})


def reparam_table() -> list[str]:
    torch.manual_seed(0)
    model = build_model(fmvit_arch()).eval()
    x = torch.zeros(1, 3, 224, 224)
    rows = [(f"FMViT-style net: {fmvit_arch().summary()}; {count_macs(model, x) / 1e9:.3f} GMACs (same before and "
             "after fusion)"), "", "| form | params M | ort-cpu ms | torch-cpu ms |", "|---|---|---|---|"]
    forms = ("train-time branches (eval computes fused weights)", "after fuse_for_inference")
    runs: dict[str, dict] = {"ort-cpu": {}, "torch-cpu": {}}
    params = {}
    for form in forms:
        if form.startswith("after"):
            model = build_model(fmvit_arch()).eval()  # a fresh copy: the prepared callables keep the first
            fuse_for_inference(model)
        params[form] = sum(p.numel() for p in model.parameters()) / 1e6
        for target, prepared in runs.items():
            prepared[form] = resolve_target(target).prepare(model, (1, 3, 224, 224))
    ms = {target: interleaved_ms(r, target) for target, r in runs.items()}
    rows += [f"| {f} | {params[f]:.3f} | {ms['ort-cpu'][f]} | {ms['torch-cpu'][f]} |" for f in forms]
    return rows


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"threads: targets' defaults (1 intra-op)\n")
    for table in (counts_table(), pruning_table(), reparam_table()):
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
