"""Hiformer-family interaction layers: MAC formulas at every knob the registry contract does not vary,
the token-count refusal, query pruning leaving the other tokens alone, and a field network end to end."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from hynas.blocks import block_class
from hynas.build import block_plan, build_model
from hynas.cost import count_macs, count_params
from hynas.errors import ArchError
from hynas.export import generate_source, load_generated
from hynas.space import fixed_arch, load_space
from hynas.space.loader import parse_space
from hynas.space.sampling import contains, sample

F_, IN, OUT = 6, 16, 32

CASES = [
    ("hiformer_attn", {"projection": "hetero"}),
    ("hiformer_attn", {"projection": "hetero", "rank": 4}),
    ("hiformer_attn", {"projection": "hetero", "queries": 1}),
    ("hiformer_attn", {"projection": "composite"}),
    ("hiformer_attn", {"projection": "composite", "rank": 8}),
    ("hiformer_attn", {"projection": "composite", "rank": 8, "queries": 2, "head_dim": 8, "mlp_ratio": 3}),
    ("dcn_cross", {"layers": 3}),
    ("dcn_cross", {"layers": 2, "rank": 16}),
    ("token_mlp", {"token_ratio": 3, "mlp_ratio": 1}),
    ("flatten_mlp", {"hidden": 40, "layers": 3}),
]


@pytest.mark.parametrize(("name", "knobs"), CASES)
def test_macs_match_the_trace(name: str, knobs: dict) -> None:
    cls = block_class(name)
    knobs = {"fields": F_} | knobs
    head = cls.block_info.role == "head"
    m = cls(IN, 2, **knobs) if head else cls(IN, OUT, 1, **knobs)
    x = torch.randn(3, IN, F_, requires_grad=True)
    m.train()(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad), name
    traced = count_macs(m.eval(), x[:1].detach())
    formula = cls.macs(IN, 2 if head else OUT, 1, F_, 1, **knobs)
    assert abs(formula - traced) <= 0.01 * traced, (name, knobs, formula, traced)


def test_low_rank_and_pruning_cut_the_cost() -> None:
    cls = block_class("hiformer_attn")
    full = cls.macs(64, 64, 1, 12, 1, fields=12, projection="composite")
    low = cls.macs(64, 64, 1, 12, 1, fields=12, projection="composite", rank=32)
    pruned = cls.macs(64, 64, 1, 12, 1, fields=12, projection="composite", rank=32, queries=1)
    assert pruned < low < full / 3


def test_hetero_projections_are_per_field() -> None:
    """Swapping two fields' tokens is not the same as swapping their outputs: the maps are untied."""
    torch.manual_seed(0)
    m = block_class("hiformer_attn")(OUT, OUT, 1, fields=F_, projection="hetero").eval()
    x = torch.randn(2, OUT, F_)
    swap = [1, 0, *range(2, F_)]
    with torch.no_grad():
        assert not torch.allclose(m(x[:, :, swap])[:, :, swap], m(x), atol=1e-4)
        shared = block_class("mhsa1d")(OUT, OUT, 1, head_dim=16, cpe=False).eval()
        torch.testing.assert_close(shared(x[:, :, swap])[:, :, swap], shared(x), atol=1e-5, rtol=1e-5)


def test_query_pruning_passes_the_other_tokens_through() -> None:
    m = block_class("hiformer_attn")(OUT, OUT, 1, fields=F_, queries=2).eval()
    x = torch.randn(2, OUT, F_)
    with torch.no_grad():
        y = m(x)
    torch.testing.assert_close(y[:, :, 2:], x[:, :, 2:])
    assert not torch.allclose(y[:, :, :2], x[:, :, :2])


@pytest.mark.parametrize("name", ["hiformer_attn", "dcn_cross", "token_mlp", "flatten_mlp"])
def test_a_token_count_other_than_fields_is_refused(name: str) -> None:
    why = block_class(name).check_map(7, 1, 1, fields=F_)
    assert why and "fields: 7" in why
    assert block_class(name).check_map(F_, 1, 1, fields=F_) is None
    assert "more than" in block_class("hiformer_attn").check_map(F_, 1, 1, fields=F_, queries=F_ + 1)


FIELDS = [{"name": "user", "vocab": 50}, {"name": "price", "dense": 3}, {"name": "item", "vocab": 20}]


def _space(fields: int = 3) -> dict:
    body = {"hiformer_attn": {"fields": fields, "head_dim": 8, "projection": ["hetero", "composite"],
                              "rank": [0, 4]},
            "dcn_cross": {"fields": fields}, "token_mlp": {"fields": fields}}
    return {"input": {"fields": FIELDS, "classes": 2}, "stem": {"width": 16, "blocks": "field_embed"},
            "stages": [{"width": 16, "depth": [1, 2], "blocks": body}],
            "head": {"flatten_mlp": {"fields": fields, "hidden": 32}}}


def test_field_network_builds_and_round_trips() -> None:
    sp = parse_space(_space())
    x = torch.cat([torch.randint(0, 50, (4, 1)).float(), torch.randn(4, 3), torch.randint(0, 20, (4, 1)).float()], 1)
    for seed in range(4):
        arch = sample(sp, random.Random(seed))
        torch.manual_seed(0)
        net = build_model(arch).eval()
        clone = load_generated(generate_source(arch)).build().eval()
        clone.load_state_dict(net.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(clone(x), net(x))
            assert net(x).shape == (4, 2)


def test_a_space_whose_fields_knob_is_wrong_is_refused_at_build() -> None:
    arch = sample(parse_space(_space(fields=4)), random.Random(0))
    with pytest.raises(ArchError, match="fields: 3"):
        block_plan(arch)


REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"


@pytest.mark.parametrize(("name", "params"), [("hiformer", 490_754), ("autoint_like", 75_362)])
def test_references_load_match_their_headers_and_lie_in_recsys(name: str, params: int) -> None:
    """Params equal the hand count in each YAML's header; both are points of search_spaces/recsys.yaml."""
    arch = fixed_arch(load_space(REF / f"{name}.yaml"))
    model = build_model(arch)
    assert count_params(model) == params
    assert contains(load_space("recsys"), arch)
    x = torch.cat([torch.randint(0, 7, (2, 10)).float(), torch.randn(2, 6)], 1)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 2)


def test_recsys_space_matches_the_clicklog_schema() -> None:
    from hynas.proxy.clicklog import CLICKLOG_FIELDS

    assert load_space("recsys").input.fields == CLICKLOG_FIELDS
