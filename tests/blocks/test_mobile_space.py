"""The shipped phone-sized space (search_spaces/mobile.yaml): contains its references, samples valid networks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from hynas.build import block_plan, build_model, validate_arch
from hynas.search.problems.evaluate import limits_check
from hynas.space import contains, fixed_arch, load_space, sample

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"
ZOO = ["mobilevit_s", "mobilevitv2_100", "efficientvit_b1", "efficientformer_l1", "efficientformerv2_s1",
       "fastvit_sa12", "tiny_vit_5m_224", "coatnet_0_224"]


@pytest.mark.parametrize("model", ZOO)
def test_mobile_space_contains_reference(model: str) -> None:
    assert contains(load_space("mobile"), fixed_arch(load_space(REF / f"{model}.yaml")))


def test_mobile_space_budget_holds_the_phone_models() -> None:
    """The caps are a search budget, not part of ``contains``: every reference but CoAtNet-0 fits them."""
    check = limits_check(load_space("mobile"))
    over = {m: check(fixed_arch(load_space(REF / f"{m}.yaml"))) for m in ZOO}
    assert {m: why for m, why in over.items() if why} == {"coatnet_0_224": "max_macs"}  # and max_params


def test_mobile_space_samples_build_and_run() -> None:
    """Random feasible members are valid networks at 224 (maps 56/28/14/7 whatever the stem) and run forward."""
    space = load_space("mobile")
    rng = random.Random(0)
    kinds, stems = set(), set()
    for i in range(12):
        arch = sample(space, rng)
        assert contains(space, arch)
        validate_arch(arch)
        units = block_plan(arch)
        assert [u.h for u in units if u.role == "head"] == [7]
        assert [next(u.h for u in units if u.stage == k) for k in (1, 2, 3)] == [56, 28, 14]  # stages 2-4 see these
        kinds.update(u.type for u in units if u.stage >= 1)
        stems.add(arch.to_dict()["stem"]["type"])
        if i < 2:
            with torch.no_grad():
                assert build_model(arch).eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    assert kinds - {"mnv2", "fused_mbconv"}, "no attention block drawn in twelve samples"
    assert len(stems) > 2
