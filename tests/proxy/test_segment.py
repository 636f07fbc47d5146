"""Segmentation: the task's scores, the embedded shapes set, dense heads, and a U-Net search end to end."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hynas.build import block_plan, build_model
from hynas.errors import ArchError
from hynas.proxy.data import load_dataset
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.segdata import shapes_seg_arrays
from hynas.proxy.tasks import confusion, overlap_scores
from hynas.proxy.trainer import train_proxy
from hynas.space.loader import parse_space
from hynas.space.sampling import sample
from tests.cli import run_cli

UNET = {
    "name": "tiny_unet",
    "input": {"channels": 1, "resolution": 64, "classes": 4},
    "stem": {"width": 8, "blocks": {"conv_stem": {"reduction": 2}}},
    "stages": [
        {"name": "e1", "width": 8, "depth": 1, "blocks": {"mbconv": {"expansion": 2}}},
        {"name": "e2", "width": 16, "downsample": "conv_down", "depth": 1,
         "blocks": {"mbconv": {"expansion": 2}, "mhsa": {"head_dim": 8}}},
        {"name": "d1", "width": 8, "upsample": "upsample2d", "skip": "e1", "merge": "concat", "depth": 1,
         "blocks": {"mbconv": {"expansion": 2}}},
    ],
    "head": {"dense_head": {"scale": 2}},
}


def test_overlap_scores_on_a_known_confusion() -> None:
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    true = torch.tensor([0, 1, 1, 1, 2, 0])
    s = overlap_scores(confusion(pred, true, 4))  # class 3 absent from both: not averaged in
    iou = [1 / 3, 2 / 3, 1 / 2]
    dice = [2 / 4, 4 / 5, 2 / 3]
    assert s["miou"] == pytest.approx(np.mean(iou)) and s["dice"] == pytest.approx(np.mean(dice))
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)


def test_shapes_seg_is_seeded_and_labelled() -> None:
    a, m = shapes_seg_arrays(64, seed=3)
    b, n = shapes_seg_arrays(64, seed=3)
    assert np.array_equal(a, b) and np.array_equal(m, n)
    assert a.shape == (64, 1, 64, 64) and m.shape == (64, 64, 64)
    assert set(np.unique(m)) == {0, 1, 2, 3} and 0.05 < (m > 0).mean() < 0.6
    c, _ = shapes_seg_arrays(64, seed=4)
    assert not np.array_equal(a, c)


def test_unet_trains_on_shapes_and_scores_miou() -> None:
    data = load_dataset("shapes_seg")
    arch = sample(parse_space(UNET), random.Random(0))
    torch.manual_seed(0)
    model = build_model(arch)
    assert model(data.val_x[:2]).shape == (2, 4, 64, 64)
    res = train_proxy(model, data, recipe=TrainRecipe(steps=30, batch_size=16, lr=3e-3, eval_every=30,
                                                      interim_eval_samples=64))
    assert 0.0 < res.val_accuracy <= 1.0  # the mIoU


def test_dense_output_must_come_back_to_the_input_size() -> None:
    d = yaml.safe_load(yaml.safe_dump(UNET))
    d["head"] = {"dense_head": {"scale": 1}}
    with pytest.raises(ArchError, match="dense outputs must come back"):
        block_plan(sample(parse_space(d), random.Random(0)))


def test_segmentation_refuses_a_resize() -> None:
    data = load_dataset("shapes_seg")
    model = build_model(sample(parse_space(UNET), random.Random(0)).with_input(resolution=32))
    with pytest.raises(Exception, match="trains at its masks' size"):
        train_proxy(model, data, recipe=TrainRecipe(steps=2, batch_size=8, resolution=32))


def test_seg_search_and_export(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "unet.yaml"
    space.write_text(yaml.safe_dump(UNET))
    rd = tmp_path / "run"
    code, err = run_cli(["search", "--space", str(space), "--dataset", "shapes_seg", "--budget", "2",
                         "--train-steps", "4", "--batch-size", "8", "--run-dir", str(rd), "--no-calibrate"], capsys)
    assert code == 0, err
    from hynas.results.trials import load_run

    done = load_run(rd).complete()
    assert len(done) == 2 and all(t.attrs.get("metric") == "mIoU" for t in done)
    code, err = run_cli(["export", str(rd), "--pick", "knee", "--out", str(tmp_path / "model.py")], capsys)
    assert code == 0, err
    from hynas.export import load_generated

    net = load_generated((tmp_path / "model.py").read_text()).build().eval()
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 4, 64, 64)


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_users_image_mask_npz_loads_and_bad_ones_are_refused(tmp_path: Path) -> None:
    from hynas.errors import SpecError

    imgs, masks = shapes_seg_arrays(40, seed=1)
    ok = _npz(tmp_path / "seg.npz", images=(imgs[:30, 0] * 255).astype(np.uint8), masks=masks[:30],
              val_images=(imgs[30:, 0] * 255).astype(np.uint8), val_masks=masks[30:])
    data = load_dataset(str(ok))
    assert data.task == "segment" and data.classes == 4 and len(data.val_y) == 10 and data.train_x.shape[1:] == (1, 64, 64)
    bad = {
        "size": {"images": imgs[:, 0], "masks": masks[:, :32, :32]},
        "count": {"images": imgs[:10, 0], "masks": masks[:9]},
        "ids": {"images": imgs[:, 0], "masks": masks.astype(np.float32) + 0.5},
        "negative": {"images": imgs[:, 0], "masks": masks - 1},
        "nan": {"images": np.where(imgs[:, 0] > 0.99, np.nan, imgs[:, 0]), "masks": masks},
        "one class": {"images": imgs[:, 0], "masks": np.zeros_like(masks)},
        "no masks for val": {"images": imgs[:, 0], "masks": masks, "val_images": imgs[:5, 0]},
    }
    for what, arrays in bad.items():
        with pytest.raises(SpecError) as e:
            load_dataset(str(_npz(tmp_path / f"{what.replace(' ', '_')}.npz", **arrays)))
        assert f"{what.replace(' ', '_')}.npz" in str(e.value), (what, str(e.value))
