"""Counts of the efficient-hybrid zoo's reference models vs the exact figures of timm's faithful ports.

For each fixed-architecture space in search_spaces/reference/ this builds the model at 224x224 and
prints its params, its MACs counted the way the exact figures were measured (fvcore with its
default BatchNorm/GroupNorm/LayerNorm/resize handles and attention counted; FastViT in its
train-time form, branches unfused), and its MACs by hynas's own convention (norms not counted,
re-parameterised branches fused, as ``hynas info`` reports them), next to the exact figures from
../shared/REFERENCE_MODELS.md.

    .venv/bin/python benchmarks/reference_counts_zoo.py
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# model: (exact params, exact MACs) from REFERENCE_MODELS.md ("The efficient-hybrid zoo")
EXACT = {"mobilevit_s": (5.579e6, 1.547e9), "mobilevitv2_100": (4.902e6, 1.437e9),
         "efficientformer_l1": (12.290e6, 1.302e9), "efficientformerv2_s1": (6.186e6, 0.668e9),
         "efficientvit_b1": (9.102e6, 0.528e9), "tiny_vit_5m_224": (5.393e6, 1.270e9),
         "coatnet_0_224": (25.037e6, 4.584e9), "fastvit_sa12": (11.581e6, 1.503e9)}
TRAIN_FORM = {"fastvit_sa12"}


def main() -> None:
    from hynas.build import build_model
    from hynas.cost import count_macs, count_params
    from hynas.space import fixed_arch, load_space
    from tests.blocks.test_reference_zoo import macs_as_published

    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print("| model | params M hynas (exact) | Δ params | GMACs as timm counts (exact) | Δ MACs "
          "| GMACs hynas convention | hynas vs exact |")
    print("|---|---|---|---|---|---|---|")
    for name, (p_exact, m_exact) in EXACT.items():
        torch.manual_seed(0)
        arch = fixed_arch(load_space(REPO / "search_spaces" / "reference" / f"{name}.yaml"))
        model = build_model(arch, 224)
        x = torch.zeros(1, 3, 224, 224)
        params = count_params(model)
        published = macs_as_published(model, x, name in TRAIN_FORM)
        own = count_macs(model.eval(), x)
        print(f"| {name} | {params / 1e6:.3f} ({p_exact / 1e6:.3f}) | {100 * (params - p_exact) / p_exact:+.3f}% "
              f"| {published / 1e9:.4f} ({m_exact / 1e9:.3f}) | {100 * (published - m_exact) / m_exact:+.2f}% "
              f"| {own / 1e9:.4f} | {100 * (own - m_exact) / m_exact:+.2f}% |")


if __name__ == "__main__":
    main()
