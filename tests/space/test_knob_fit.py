"""Knob values that cannot fit their block's place are refused when the space loads, naming the field.

A TinyViT window must tile the map the block sees, a head count or head width must divide the block's width,
a MobileViT patch may not exceed the map; with choices, a value that fits one of them is kept.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hynas.errors import SpecError
from hynas.space import load_space

HEAD = """
input: {channels: 3, resolution: 224, classes: 10}
head: pool_linear
"""
TINYVIT = HEAD + """
stem: {width: 64, blocks: tinyvit_stem}
stages:
  - {name: s1, width: 64, downsample: none, depth: 1, blocks: mnv2}
  - {name: s2, width: WIDTH, downsample: patch_merging, depth: 1, blocks: {tinyvit: {heads: HEADS, window: WINDOW}}}
"""
FASTVIT = HEAD + """
stem: {width: 64, blocks: fastvit_stem}
stages:
  - {name: s1, width: 64, downsample: none, depth: 1, blocks: repmixer}
  - {name: s2, width: WIDTH, downsample: fastvit_embed, depth: 1, blocks: {fastvit_attn: {head_dim: 32}}}
"""
MOBILEVIT = HEAD + """
stem: {width: 32, blocks: mobilevit_stem}
stages:
  - {name: s1, width: 64, downsample: block, depth: 1, blocks: mnv2}
  - {name: s2, width: 96, downsample: block, depth: 1, blocks: mnv2}
  - {name: s3, width: 128, downsample: block, depth: 1, blocks: mnv2}
  - name: s4
    width: 160
    downsample: block
    pattern:
      - {count: 1, blocks: mnv2}
      - {count: 1, blocks: {BLOCK: {patch: PATCH}}}
"""


def write(tmp_path: Path, text: str, **subs: object) -> Path:
    for k, v in subs.items():
        text = text.replace(k, str(v))
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize(("text", "subs", "field", "words"), [
    (TINYVIT, {"WIDTH": 128, "HEADS": 4, "WINDOW": 30}, "stages[1].blocks.tinyvit.window", "1, 2, 4, 7, 14, 28"),
    (TINYVIT, {"WIDTH": 128, "HEADS": 4, "WINDOW": 5}, "stages[1].blocks.tinyvit.window", "tiles none of the maps"),
    (TINYVIT, {"WIDTH": 128, "HEADS": 5, "WINDOW": 7}, "stages[1].blocks.tinyvit.heads", "1, 2, 4, 8, 16, 32"),
    (TINYVIT, {"WIDTH": 128, "HEADS": [4, 5], "WINDOW": 7}, "stages[1].blocks.tinyvit.heads[1]", "divides none"),
    (FASTVIT, {"WIDTH": 100}, "stages[1].blocks.fastvit_attn.head_dim", "divides none of the block's widths [100]"),
    (MOBILEVIT, {"BLOCK": "mobilevit", "PATCH": 8}, "stages[3].pattern[1].blocks.mobilevit.patch", "larger than"),
    (MOBILEVIT, {"BLOCK": "mobilevit2", "PATCH": 8}, "stages[3].pattern[1].blocks.mobilevit2.patch", "7x7"),
])
def test_refused_at_load_with_the_field_and_what_fits(tmp_path: Path, text: str, subs: dict, field: str,
                                                       words: str) -> None:
    with pytest.raises(SpecError) as e:
        load_space(write(tmp_path, text, **subs))
    assert field in str(e.value) and words in str(e.value)


@pytest.mark.parametrize(("text", "subs"), [
    (TINYVIT, {"WIDTH": [128, 160], "HEADS": 5, "WINDOW": 7}),  # 5 heads fit the 160 choice
    (TINYVIT, {"WIDTH": 128, "HEADS": 4, "WINDOW": 14}),
    (FASTVIT, {"WIDTH": [100, 128]}),
    (MOBILEVIT, {"BLOCK": "mobilevit", "PATCH": 2}),  # 2 does not divide 7: the block resizes, as the official one
])
def test_values_that_fit_a_choice_are_kept(tmp_path: Path, text: str, subs: dict) -> None:
    load_space(write(tmp_path, text, **subs))


def test_cli_exits_2_naming_the_field(tmp_path: Path) -> None:
    p = write(tmp_path, TINYVIT, WIDTH=128, HEADS=4, WINDOW=30)
    for cmd in ("space", "info"):
        r = subprocess.run([sys.executable, "-m", "hynas", cmd, str(p)], check=False, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 2, (cmd, r.stderr[-500:])
        assert "stages[1].blocks.tinyvit.window" in r.stderr and "Allowed: 1, 2, 4, 7, 14, 28" in r.stderr
