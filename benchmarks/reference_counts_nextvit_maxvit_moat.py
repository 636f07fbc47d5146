"""Counts of the Next-ViT-S / MaxViT-T / MOAT-0 reference models vs their official code, and what
Next-ViT's deploy-time BN merge buys on the ort-cpu target.

For each fixed-architecture space in search_spaces/reference/ this builds the model at 224x224
and prints params, MACs by hynas's convention (norms not counted) and MACs with fvcore's
default norm handles (BatchNorm 2 and LayerNorm 5 per element), next to the exact figures
measured from the official code (../shared/REFERENCE_MODELS.md). MaxViT's official port also
looks its relative position bias up with two one-hot einsums, which fvcore counts; their
MACs are computed here so the last column can close the gap.

With ``--latency`` it also times Next-ViT-S on the ort-cpu target (batch 1, one thread)
before and after ``fuse_for_inference`` (NCB/NTB ``reparameterize()``, the official
``merge_bn``), alternating the two models over several rounds so drift hits both alike.

    .venv/bin/python benchmarks/reference_counts_nextvit_maxvit_moat.py [--latency] [--rounds 4]
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# model: (exact params, exact MACs) from REFERENCE_MODELS.md
EXACT = {"nextvit_s": (31.763e6, 5.811e9), "maxvit_t": (30.917e6, 5.598e9), "moat_0": (27.847e6, 5.688e9)}


def macs_with_norms(model: torch.nn.Module, x: torch.Tensor) -> int:
    """fvcore's total with its default handles (norms counted), attention counted as in hynas."""
    from fvcore.nn import FlopCountAnalysis

    from hynas.cost import _sdpa_macs

    fca = FlopCountAnalysis(model, (x,))
    fca.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return int(fca.total())


def maxvit_einsum_lookup_macs(model: torch.nn.Module) -> int:
    """MACs of timm's RelPosBiasTf lookup (two one-hot einsums per attention) that fvcore counts there."""
    from hynas.blocks.maxvit import RelPosAttention

    total = 0
    for m in model.modules():
        if isinstance(m, RelPosAttention):
            w = round(m.rel_pos.index.shape[0] ** 0.5)
            v = 2 * w - 1  # 'nhw,ixh->nixw' then 'nixw,jyw->nijxy'
            total += m.heads * (v * w * w * v + w * w * v * w * w)
    return total


def counts() -> None:
    from hynas.build import build_model
    from hynas.cost import count_macs, count_params
    from hynas.space import fixed_arch, load_space

    print("| model | params M (exact) | GMACs hynas | GMACs with norms | + rel-pos einsums | exact GMACs "
          "| hynas vs exact |")
    print("|---|---|---|---|---|---|---|")
    for name, (p_exact, m_exact) in EXACT.items():
        arch = fixed_arch(load_space(REPO / "search_spaces" / "reference" / f"{name}.yaml"))
        model = build_model(arch, 224).eval()
        x = torch.zeros(1, 3, 224, 224)
        params, macs, with_norms = count_params(model), count_macs(model, x), macs_with_norms(model, x)
        lookup = maxvit_einsum_lookup_macs(model)
        extra = f"{(with_norms + lookup) / 1e9:.3f}" if lookup else "-"
        print(f"| {name} | {params / 1e6:.3f} ({p_exact / 1e6:.3f}) | {macs / 1e9:.3f} | {with_norms / 1e9:.3f} "
              f"| {extra} | {m_exact / 1e9:.3f} | {100 * (macs - m_exact) / m_exact:+.2f}% |")


def bn_merge_latency(rounds: int) -> None:
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.build import build_model
    from hynas.latency import TimingPolicy, resolve_target
    from hynas.latency.measure import time_module
    from hynas.space import fixed_arch, load_space

    target = resolve_target("ort-cpu")
    policy = TimingPolicy(warmup_s=0.5, max_time_s=6.0)
    arch = fixed_arch(load_space(REPO / "search_spaces" / "reference" / "nextvit_s.yaml"))
    plain = build_model(arch, 224).eval()
    merged = fuse_for_inference(copy.deepcopy(plain))
    shape = (1, 3, 224, 224)
    times: dict[str, list[float]] = {"as trained": [], "BN merged": []}
    for _ in range(rounds):
        for label, model in (("as trained", plain), ("BN merged", merged)):
            times[label].append(time_module(model, shape, target, policy).median_ms)
    print(f"\nNext-ViT-S on {target.name} (batch {target.batch}, {target.threads} thread(s)), median ms per round:")
    for label, ms in times.items():
        print(f"  {label:>10}: {' '.join(f'{t:.1f}' for t in ms)}  -> median {statistics.median(ms):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", action="store_true", help="also time Next-ViT-S before/after the BN merge")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds for --latency")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}")
    counts()
    if args.latency:
        bn_merge_latency(args.rounds)


if __name__ == "__main__":
    main()
