"""rules.output_stride and per-stage downsample choices that mix 'block' with other kinds.

A space whose stems reduce by different factors (2 or 4) keeps the map entering the head fixed by drawing each
stage's downsample among the choices that can still meet the stride; downsample 'block' beside other kinds draws
the stage's first block among those that can stride. Checked against brute-force enumeration of every decision.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from hynas.build import block_plan
from hynas.errors import SpecError
from hynas.space import contains, decode, encode, load_space, mutate, sample, space_size
from hynas.space.sampling import rule_violations

MIXED = """
name: mixed
input: {channels: 3, resolution: 32, classes: 10}
stem:
  width: 16
  blocks: {conv_stem: {reduction: [2, 4]}, efficientformer_stem: {}}
stages:
  - name: s1
    width: 16
    downsample: [none, block]
    depth: [1, 2]
    per_block: true
    blocks: {mnv2: {expansion: [2, 4]}, meta4d: {}}
  - name: s2
    width: 32
    downsample: [block, conv_down]
    pattern:
      - count: 1
        blocks: {mnv2: {}, meta4d: {}, mhsa: {head_dim: 16}}
      - count: [0, 1]
        per_block: true
        blocks: {mnv2: {}, mhsa: {head_dim: 16}}
head: pool_linear
rules: {asymmetric: true, output_stride: 8}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def enumerate_space(sp) -> tuple[set[str], dict[str, set[tuple]], list]:
    """Every arch the decoder can make (walking every decision), and the option sets seen per decision name."""
    seen, options, archs = set(), {}, []

    def walk(decisions: dict) -> None:
        names: dict[str, tuple] = {}

        class Rec:
            def choose(self, name, opts):
                names[name] = tuple(opts)
                options.setdefault(name, set()).add(tuple(opts))
                return decisions.get(name, opts[0])

        arch, _ = decode(sp, Rec())
        free = [n for n in names if n not in decisions]
        if not free:
            if arch.hash not in seen:
                seen.add(arch.hash)
                archs.append(arch)
            return
        for v in names[free[0]]:
            walk({**decisions, free[0]: v})

    walk({})
    return seen, options, archs


def test_decoder_meets_the_output_stride_and_size_is_exact(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, MIXED))
    _, options, archs = enumerate_space(sp)
    feasible = [a for a in archs if not rule_violations(sp, a)]
    for a in archs:  # the decoder never draws a stride the rule refuses; only the asymmetry rule rejects
        assert not [v for v in rule_violations(sp, a) if v.startswith("output_stride")]
        units = block_plan(a)
        assert [u.h for u in units if u.role == "head"] == [32 // 8]
        for st in a.stages:
            if st["downsample"]["type"] == "block":
                assert st["blocks"][0]["type"] in ("mnv2", "mhsa")  # meta4d cannot stride
    assert space_size(sp) == len(feasible) > 0
    assert all(len(sets) == 1 for sets in options.values()), "a decision name must always offer the same options"
    assert {"s2.g0.type", "s2.g0.type.strided"} <= set(options)
    stems = {(a.to_dict()["stem"]["type"], a.to_dict()["stem"]["knobs"]["reduction"]
              if a.to_dict()["stem"]["type"] == "conv_stem" else 4) for a in archs}
    assert stems == {("conv_stem", 2), ("conv_stem", 4), ("efficientformer_stem", 4)}
    for a in feasible:
        assert contains(sp, a) and encode(sp, a) is not None


def test_sampling_and_mutation_stay_inside(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, MIXED))
    rng = random.Random(0)
    for _ in range(20):
        a = sample(sp, rng)
        assert contains(sp, a) and not rule_violations(sp, a)
        b = mutate(sp, a, rng)
        assert contains(sp, b) and not rule_violations(sp, b)


def test_an_arch_of_another_stride_is_not_contained(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, MIXED))
    a = sample(sp, random.Random(1)).to_dict()
    a["stages"][0]["downsample"] = {"type": "none" if a["stages"][0]["downsample"]["type"] == "block" else "block",
                                    "knobs": {}}
    a["stages"][0]["blocks"][0]["type"], a["stages"][0]["blocks"][0]["knobs"] = "mnv2", {
        "act": "silu", "act_out": False, "expansion": 2, "kernel": 3, "norm": "all"}
    from hynas.space import Arch

    bad = Arch(a)
    assert any(v.startswith("output_stride") for v in rule_violations(sp, bad))
    assert not contains(sp, bad)


def test_without_the_rule_every_stride_is_drawn(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, MIXED.replace("output_stride: 8", "output_stride: null").replace(
        ", output_stride: null", "")))
    _, _, archs = enumerate_space(sp)
    assert len({block_plan(a)[-1].h for a in archs}) == 3  # 32 / 4, 32 / 8, 32 / 16
    assert space_size(sp) == sum(not rule_violations(sp, a) for a in archs)


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    ("output_stride: 8", "output_stride: 64", "stem.blocks.conv_stem.reduction", "never makes 64"),
    ("output_stride: 8", "output_stride: 6", "stem.blocks.conv_stem.reduction", "never makes 6"),
    ("downsample: [block, conv_down]", "downsample: block", "stages[1].downsample", "meta4d cannot"),
    ("blocks: {mnv2: {}, meta4d: {}, mhsa: {head_dim: 16}}", "blocks: {meta4d: {}}", "stages[1].downsample",
     "could never be drawn"),
])
def test_refused_at_load_with_the_field(tmp_path: Path, old: str, new: str, path: str, words: str) -> None:
    text = MIXED.replace(old, new)
    assert text != MIXED
    with pytest.raises(SpecError) as e:
        load_space(write(tmp_path, text))
    assert path in str(e.value) and words in str(e.value)
