"""Space files at the edges: huge integers, lone surrogates, NaN knobs, unreadable files, and size
counts that must return quickly on patterns with many wide segments."""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path

import pytest

from hynas.cli import main
from hynas.errors import SpecError
from hynas.space import contains, load_space, mutate, sample
from hynas.space.size import count_space

HEAD = """
name: edge
input: {channels: 3, resolution: RES, classes: 10}
stem: {width: [16], blocks: {conv_stem: {reduction: 2}}}
"""
STAGE = """
stages:
  - width: [16, 32]
    depth: DEPTH
    per_block: true
    blocks: {mbconv: {expansion: [2, 4]}, mhsa: {head_dim: [16], mlp_ratio: MLP}}
head: pool_linear
rules: {asymmetric: true, max_params: MAXP}
"""


def space_text(res: str = "32", depth: str = "[1, 2]", mlp: str = "[2, 4]", maxp: str = "2.0e6") -> str:
    return (HEAD.replace("RES", res) + STAGE.replace("DEPTH", depth).replace("MLP", mlp)
            .replace("MAXP", maxp))


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def refused(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    p = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_space(p)
    assert str(p) in str(e.value)
    with pytest.raises(SystemExit) as ex:
        main(["space", str(p)])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return str(e.value)


@pytest.mark.parametrize("where", ["res", "depth", "range", "maxp", "mlp"])
@pytest.mark.parametrize("digits", [400, 5000])
def test_huge_integers_are_refused_with_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 where: str, digits: int) -> None:
    big = "9" * digits
    text = {"res": space_text(res=big), "depth": space_text(depth=big),
            "range": space_text(depth=f"{{range: [1, {big}]}}"), "maxp": space_text(maxp=big),
            "mlp": space_text(mlp=big)}[where]
    msg = refused(tmp_path, text, capsys)
    assert f"{digits} digits" in msg and "at most 30" in msg and len(msg) < 400


def test_long_but_bounded_integers_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = refused(tmp_path, space_text(res="9" * 25), capsys)
    assert "input.resolution" in msg and "Allowed: 8..2048" in msg
    msg = refused(tmp_path, space_text(maxp="1e999"), capsys)
    assert "rules.max_params" in msg and "finite" in msg


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_non_finite_float_knobs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    msg = refused(tmp_path, space_text(mlp=f"[2, {value}]"), capsys)
    assert "mlp_ratio" in msg and ("finite" in msg or "out of range" in msg)


def test_lone_surrogate_in_a_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = refused(tmp_path, space_text().replace("name: edge", 'name: "ed\\ud800ge"'), capsys)
    assert "surrogate" in msg and "line 2" in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, space_text())
    p.chmod(0)
    try:
        with pytest.raises(SystemExit) as ex:
            main(["space", str(p)])
        assert ex.value.code == 2
        err = capsys.readouterr().err
        assert str(p) in err and "cannot read" in err
    finally:
        p.chmod(0o644)


def pattern_space(segments: int, count: str, asymmetric: bool = True) -> str:
    segs = "\n".join(f"      - {{count: {count}, per_block: true, blocks: {{mbconv: {{}}, mhsa: {{}}}}}}"
                     for _ in range(segments))
    return (HEAD.replace("RES", "32") + f"""
stages:
  - width: [16]
    downsample: none
    blocks: {{mbconv: {{}}}}
    depth: 1
  - width: [32]
    downsample: conv_down
    pattern:
{segs}
head: pool_linear
rules: {{asymmetric: {'true' if asymmetric else 'false'}}}
""")


@pytest.mark.parametrize("segments,count", [(4, "{range: [1, 64]}"), (40, "[1, 2]"), (60, "{range: [1, 64]}")])
@pytest.mark.parametrize("asymmetric", [True, False])
def test_size_of_many_wide_segments_returns_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   segments: int, count: str, asymmetric: bool) -> None:
    p = write(tmp_path, pattern_space(segments, count, asymmetric))
    start = time.monotonic()
    main(["space", str(p)])
    assert time.monotonic() - start < 10
    out = capsys.readouterr().out
    assert "architectures" in out
    c = count_space(load_space(p))
    assert c.value > 0 and (c.exact or "at most" in out)
    if not asymmetric:
        assert c.exact


def test_size_is_exact_for_a_pattern_small_enough_to_enumerate(tmp_path: Path) -> None:
    # 3 per-block segments of 1..2 blocks, each block mbconv or mhsa, after a 1-block conv stage
    # (share 0, so the asymmetry rule allows every stage 2): (count splits of n) * 2**n strings.
    sp = load_space(write(tmp_path, pattern_space(3, "[1, 2]")))
    c = count_space(sp)
    assert c.exact
    splits = {n: sum(1 for a in (1, 2) for b in (1, 2) for d in (1, 2) if a + b + d == n) for n in range(3, 7)}
    assert c.value == sum(splits[n] * 2 ** n for n in range(3, 7))


def test_sampling_and_mutation_on_many_segments_do_not_hang(tmp_path: Path) -> None:
    sp = load_space(write(tmp_path, pattern_space(40, "[1, 2]")))
    rng = random.Random(0)
    start = time.monotonic()
    a = sample(sp, rng)
    b = mutate(sp, a, rng)
    assert contains(sp, a) and b is not None
    assert time.monotonic() - start < 20
    assert math.isfinite(float(len(a.hash)))
