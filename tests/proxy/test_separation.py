"""Separation: mask-estimation nets over the encoder's features, trained on minus PIT SI-SNR, scored by SI-SNRi."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import yaml

from hynas.build import block_plan, build_model
from hynas.errors import ArchError
from hynas.export import generate_source, load_generated
from hynas.proxy.data import load_dataset
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.tasks import TASKS, si_snr_t
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space
from hynas.space.sampling import sample
from tests.cli import run_cli

TINY = {"name": "tiny_sep", "input": {"dims": 1, "channels": 1, "length": 4096, "classes": 2},
        "stem": {"width": 16, "blocks": {"sep_encoder": {"hop": 16}}},
        "stages": [{"name": "s1", "width": 16, "depth": 1, "blocks": {"convnext1d": {"kernel": 7}}}],
        "head": {"mask_decoder": {"hop": 16}}}


def test_si_snr_is_scale_invariant_and_pit_picks_the_order() -> None:
    ref = torch.randn(3, 2, 256)
    est = ref + 0.3 * torch.randn(3, 2, 256)
    assert torch.allclose(si_snr_t(3.0 * est, ref), si_snr_t(est, ref), atol=1e-4)
    task = TASKS.get("separate")
    swapped = task.score([(ref.flip(1), ref)])
    assert swapped["si_snr_db"] > 60  # the swapped order is found: a perfect estimate
    assert swapped["si_snri_db"] > 50


def test_separator_builds_exports_and_refuses_a_hop_mismatch() -> None:
    from hynas.space.loader import parse_space

    arch = sample(parse_space(TINY), random.Random(0))
    net = build_model(arch).eval()
    x = torch.randn(2, 1, 4096)
    clone = load_generated(generate_source(arch)).build().eval()
    clone.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert net(x).shape == (2, 2, 4096)
        torch.testing.assert_close(clone(x), net(x))
    head = block_plan(arch)[-1]
    assert head.stem_ch == 16 and head.macs() == 16 * 2 * 16 * 256 + 2 * 16 * 32 * 256
    bad = yaml.safe_load(yaml.safe_dump(TINY))
    bad["head"] = {"mask_decoder": {"hop": 8}}
    with pytest.raises(ArchError, match="must match"):
        block_plan(sample(parse_space(bad), random.Random(0)))


def test_separator_learns_on_the_generated_mixtures() -> None:
    from hynas.space.loader import parse_space

    data = load_dataset("separation")
    assert data.task == "separate" and data.describe()["length"] == 4096
    torch.manual_seed(0)
    model = build_model(sample(parse_space(TINY), random.Random(0)))
    res = train_proxy(model, data, recipe=TrainRecipe(steps=120, batch_size=16, lr=3e-3, label_smoothing=0.0))
    first, last = res.history[0][1], res.history[-1][1]  # SI-SNRi in dB at each evaluation
    assert last > first + 3.0, res.history  # a tiny 16-filter net climbs several dB in 120 steps


def test_shipped_separation_space_and_search(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert load_space("separation").input.dims == 1
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY))
    code, err = run_cli(["search", "--space", str(space), "--dataset", "separation", "--budget", "1",
                         "--train-steps", "3", "--batch-size", "8", "--run-dir", str(tmp_path / "run"),
                         "--no-calibrate"], capsys)
    assert code == 0, err
