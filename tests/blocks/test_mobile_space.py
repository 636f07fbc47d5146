"""The shipped phone-sized space (search_spaces/mobile.yaml): contains its references, samples valid networks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from hynas.build import block_plan, build_model, validate_arch
from hynas.space import contains, fixed_arch, load_space, sample

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"


@pytest.mark.parametrize("model", ["mobilevit_s", "mobilevitv2_100", "efficientvit_b1"])
def test_mobile_space_contains_reference(model: str) -> None:
    assert contains(load_space("mobile"), fixed_arch(load_space(REF / f"{model}.yaml")))


def test_mobile_space_samples_build_and_run() -> None:
    """Random feasible members are valid networks at 224 (maps 56/28/14/7) and run forward."""
    space = load_space("mobile")
    rng = random.Random(0)
    kinds = set()
    for i in range(4):
        arch = sample(space, rng)
        assert contains(space, arch)
        validate_arch(arch)
        units = block_plan(arch)
        assert [u.h for u in units if u.role == "head"] == [7]
        kinds.update(u.type for u in units if u.stage >= 1)
        if i == 0:
            with torch.no_grad():
                assert build_model(arch).eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    assert kinds - {"mnv2", "fused_mbconv"}, "no attention block drawn in four samples"
