"""Reference table for the MetaFormer, EfficientMod, LowFormer and UniFormer families.

Each published model is a fixed-architecture space in ``search_spaces/reference/``; built by
hynas at 224x224 it must land on the exact counts of its official code (params within 0.1%,
traced MACs within 1%, see ../shared/REFERENCE_MODELS.md). The paper's rounded figures sit
alongside for the reader. Re-measure any row with ``hynas info search_spaces/reference/<name>.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hynas.cost import arch_cost
from hynas.space import contains, fixed_arch, load_space

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"

# model, exact params, exact MACs (official code), paper params (M), paper GMACs
TABLE = [
    ("caformer_s18", 26_342_000, 4.122e9, 26, 4.1),
    ("convformer_s18", 26_774_000, 3.956e9, 27, 3.9),
    ("efficientmod_s", 12_897_000, 1.409e9, 12.9, 1.4),
    ("lowformer_b0", 14_100_000, 0.948e9, 14.1, 0.944),
    ("uniformer_s", 21_545_000, 3.644e9, 22, 3.6),
]


@pytest.mark.parametrize("name,params,macs,paper_m,paper_g", TABLE, ids=[r[0] for r in TABLE])
def test_reference_model_counts(name: str, params: int, macs: float, paper_m: float, paper_g: float) -> None:
    arch = fixed_arch(load_space(REF / f"{name}.yaml"))
    cost = arch_cost(arch, 224, memory=False)
    assert abs(cost.params - params) <= 0.001 * params, f"{name}: {cost.params} params, official {params}"
    assert abs(cost.macs - macs) <= 0.01 * macs, f"{name}: {cost.macs} MACs, official {macs:.0f}"
    # the paper's rounded figures follow (to the paper's precision, rounding either way)
    assert abs(cost.params / 1e6 - paper_m) <= 1.0 and abs(cost.macs / 1e9 - paper_g) <= 0.1


@pytest.mark.parametrize("space,model", [("metaformer", "caformer_s18"), ("metaformer", "convformer_s18")])
def test_space_contains_reference(space: str, model: str) -> None:
    assert contains(load_space(space), fixed_arch(load_space(REF / f"{model}.yaml")))


def test_metaformer_space_samples_plan_at_224() -> None:
    """Random members of the MetaFormer space are valid networks at the space's resolution."""
    import random

    from hynas.build import block_plan, validate_arch
    from hynas.space import sample

    space = load_space("metaformer")
    rng = random.Random(0)
    for _ in range(5):
        arch = sample(space, rng)
        assert contains(space, arch)
        validate_arch(arch)
        units = block_plan(arch)
        assert units[0].type == "metaformer_stem" and units[-1].type == "mlp_head"


def test_official_details_that_counts_alone_would_not_pin() -> None:
    """Structural facts of the official code: LowFormer's local branch switches type at 256
    channels, EfficientMod's ratio-1 blocks skip the MLP activation, MetaFormer's block norms
    carry no bias, UniFormer's global heads are 64 wide."""
    from torch import nn

    from hynas.blocks.efficientmod import EfficientModBlock
    from hynas.blocks.lowformer import FusedConv, LightMBConv, LowFormerBlock
    from hynas.blocks.metaformer import ConvFormerBlock
    from hynas.blocks.uniformer import UniFormerGlobalBlock

    assert isinstance(LowFormerBlock(128, 128).local, FusedConv)
    assert isinstance(LowFormerBlock(256, 256).local, LightMBConv)
    assert isinstance(EfficientModBlock(32, 32, mlp_ratio=1).act, nn.Identity)
    assert isinstance(EfficientModBlock(32, 32, mlp_ratio=6).act, nn.GELU)
    assert ConvFormerBlock(64, 64).norm1.bias is None
    assert UniFormerGlobalBlock(320, 320).heads == 5
