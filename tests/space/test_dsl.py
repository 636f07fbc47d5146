"""The DSL: loading, validation errors, sampling, hashing, encode/contains, mutation, size."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from hynas.errors import SpecError
from hynas.space import (
    Arch,
    contains,
    decode,
    encode,
    fixed_arch,
    load_space,
    mutate,
    parse_space,
    sample,
    space_size,
)
from hynas.space.sampling import RandomChooser, ReplayChooser, rule_violations

TINY = """
name: tiny
input: {channels: 3, resolution: 32, classes: 10}
stem: {width: [16, 24], blocks: {conv_stem: {reduction: 2}}}
stages:
  - width: [16, 32]
    depth: [1, 2]
    blocks: {mbconv: {expansion: [2, 4]}, fused_mbconv: {}}
  - width: [32, 48]
    downsample: conv_down
    depth: [1, 2]
    per_block: true
    blocks: {mbconv: {}, mhsa: {head_dim: [16]}}
head: pool_linear
rules: {asymmetric: true}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_default_space_loads_and_samples() -> None:
    sp = load_space("default")
    rng = random.Random(0)
    archs = [sample(sp, rng) for _ in range(50)]
    for a in archs:
        assert contains(sp, a)
        assert not rule_violations(sp, a)
        assert Arch.from_json(a.to_json()) == a and Arch.from_json(a.to_json()).hash == a.hash
    assert len({a.hash for a in archs}) > 40


def test_exact_size_matches_enumeration(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, TINY))
    seen = set()
    # enumerate every decision combination by brute force through ReplayChooser
    _, _first = decode(sp, RandomChooser(random.Random(0)))
    names = {}

    def walk(decisions: dict) -> None:
        class Rec:
            def choose(self, name, options):
                names[name] = tuple(options)
                return decisions.get(name, options[0])
        arch, _ = decode(sp, Rec())
        free = [n for n in names if n not in decisions]
        if not free:
            if not rule_violations(sp, arch):
                seen.add(arch.hash)
            return
        n = free[0]
        for v in names[n]:
            walk({**decisions, n: v})
    walk({})
    assert space_size(sp) == len(seen)


def test_asymmetry_rule_rejects_falling_attention_share(tmp_path: Path) -> None:
    text = TINY.replace("mbconv: {expansion: [2, 4]}, fused_mbconv: {}", "mbconv: {}, mhsa: {}")
    sp = load_space(write(tmp_path, text))
    rng = random.Random(1)
    for _ in range(30):
        a = sample(sp, rng)
        shares = [sum(b["type"] == "mhsa" for b in s["blocks"]) / len(s["blocks"]) for s in a.stages]
        assert shares == sorted(shares)


def test_attention_from_stage_keeps_attention_out(tmp_path: Path) -> None:
    text = TINY.replace("rules: {asymmetric: true}", "rules: {attention_from_stage: 2}")
    sp = load_space(write(tmp_path, text.replace("fused_mbconv: {}", "fused_mbconv: {}, mhsa: {}")))
    rng = random.Random(2)
    for _ in range(30):
        assert all(b["type"] != "mhsa" for b in sample(sp, rng).stages[0]["blocks"])


def test_encode_replays_to_the_same_arch() -> None:
    sp = load_space("default")
    rng = random.Random(3)
    for _ in range(20):
        a = sample(sp, rng)
        d = encode(sp, a)
        assert d is not None
        b, _ = decode(sp, ReplayChooser(d))
        assert b == a


def test_mutation_changes_one_decision_and_stays_in_space() -> None:
    sp = load_space("default")
    rng = random.Random(4)
    for _ in range(20):
        a = sample(sp, rng)
        m = mutate(sp, a, rng)
        assert contains(sp, m) and m != a


def test_arch_outside_space_is_not_contained(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, TINY))
    a = sample(sp, random.Random(0)).to_dict()
    a["stages"][0]["blocks"][0]["out"] = 999
    assert not contains(sp, Arch(a))


def test_fixed_space_has_one_arch(tmp_path: Path) -> None:
    text = """
    input: {channels: 3, resolution: 32, classes: 10}
    stem: {width: 16, blocks: conv_stem}
    stages:
      - {width: 16, depth: 2, blocks: mbconv}
      - width: 32
        downsample: pool_conv
        pattern:
          - {count: 2, blocks: mbconv}
          - {count: 1, width: 48, blocks: {mhsa: {head_dim: 16}}}
        repeat: 2
    head: pool_linear
    """
    sp = load_space(write(tmp_path, text))
    a = fixed_arch(sp)
    assert space_size(sp) == 1
    assert [b["out"] for b in a.stages[1]["blocks"]] == [32, 32, 48, 32, 32, 48]
    assert contains(sp, a)


def test_sequence_segments_give_per_block_lists(tmp_path: Path) -> None:
    text = """
    input: {channels: 3, resolution: 32, classes: 10}
    stem: {width: 16, blocks: conv_stem}
    stages:
      - width: 16
        sequence: [{mbconv: {expansion: 4}}, {mbconv: {expansion: 3}}, {blocks: {mhsa: {}}, width: 24}]
    head: pool_linear
    """
    a = fixed_arch(load_space(write(tmp_path, text)))
    assert [(b["type"], b["out"], b["knobs"].get("expansion")) for b in a.stages[0]["blocks"]] == [
        ("mbconv", 16, 4), ("mbconv", 16, 3), ("mhsa", 24, None)]


BAD = [
    ("stem: {width: [16], blocks: {nope_block: {}}}", "stem.blocks.nope_block", "unknown stem block"),
    ("stem: {width: [16], blocks: {conv_stem: {kernel: 4}}}", "stem.blocks.conv_stem.kernel", "not allowed"),
    ("stem: {width: [16], blocks: {conv_stem: {colour: 3}}}", "stem.blocks.conv_stem.colour", "unknown knob"),
    ("stem: {width: [0], blocks: conv_stem}", "stem.width", "out of range"),
    ("stem: {blocks: conv_stem}", "stem.width", "missing"),
]


@pytest.mark.parametrize("stem,field,words", BAD)
def test_bad_fields_name_file_field_and_allowed(tmp_path: Path, stem: str, field: str, words: str) -> None:
    text = TINY.replace("stem: {width: [16, 24], blocks: {conv_stem: {reduction: 2}}}", stem)
    p = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_space(p)
    msg = str(e.value)
    assert str(p) in msg and field in msg and words in msg


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    p = write(tmp_path, "input: {channels: 3\nstages: [")
    with pytest.raises(SpecError, match="YAML syntax error at line"):
        load_space(p)


def test_anchor_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i-1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    p = write(tmp_path, "\n".join(lines))
    with pytest.raises(SpecError, match="aliases"):
        load_space(p)


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"name: \xff\xfe")
    with pytest.raises(SpecError, match="UTF-8"):
        load_space(p)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown key 'stagez'.*Allowed"):
        parse_space({"stagez": []})


def test_spaces_parse_without_torch_import_in_space_package() -> None:
    import ast

    root = Path(__file__).resolve().parents[2] / "hynas" / "space"
    for f in root.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "torch" for n in names), f"{f.name} imports torch"
