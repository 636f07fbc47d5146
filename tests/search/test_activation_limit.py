"""Activation memory predicted from the plan, and --max-activation-mb / rules.max_activation_mb rejecting
candidates before they are built."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from hynas.cost import activation_scale, arch_cost, predict_activation_bytes
from hynas.space import load_space
from hynas.space.loader import parse_space
from hynas.space.sampling import sample
from tests.cli import run_cli


def test_prediction_is_a_floor_and_the_scaled_one_bounds_the_samples() -> None:
    space = load_space("seg2d")
    scale = activation_scale(space)
    assert scale >= 1.0
    rng = random.Random(0)  # the archs activation_scale measured (same seed)
    for _ in range(4):
        a = sample(space, rng)
        pred, meas = predict_activation_bytes(a), arch_cost(a).peak_activation_bytes
        assert 0 < pred <= meas <= pred * scale * 1.0001


def test_skips_held_by_a_decoder_count() -> None:
    """A U-Net holds its encoder level until the decoder joins it: the prediction is above the deepest unit's."""
    a = sample(load_space("seg2d"), random.Random(1))
    from hynas.build import block_plan

    units = block_plan(a)
    biggest_unit = max(u.in_ch * u.positions() + u.out_ch * u.positions(u.stride) for u in units if u.role != "upsample")
    assert predict_activation_bytes(a) >= 4 * biggest_unit


def test_rule_in_the_space_file_is_parsed_and_checked() -> None:
    raw = yaml.safe_load(load_space("seg2d").raw)
    raw["rules"] = {"max_activation_mb": 0.001}
    from hynas.errors import UserError
    from hynas.search.problems.evaluate import preflight

    with pytest.raises(UserError, match="max_activation_mb"):
        preflight(parse_space(raw), tries=20)


def test_flag_rejects_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rd = tmp_path / "run"
    code, err = run_cli(["search", "--space", "seg2d", "--dataset", "shapes_seg", "--budget", "1",
                         "--max-activation-mb", "0.01", "--no-calibrate", "--run-dir", str(rd)], capsys)
    assert code == 2 and "max_activation_mb" in err and not rd.exists(), err
    code, err = run_cli(["search", "--space", "seg2d", "--dataset", "shapes_seg", "--budget", "1",
                         "--max-activation-mb", "-3", "--no-calibrate", "--run-dir", str(rd)], capsys)
    assert code == 2 and "--max-activation-mb" in err and not rd.exists(), err
