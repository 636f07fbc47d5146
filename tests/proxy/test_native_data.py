"""Images keep their native size; resizing, streaming, subsets and augmentation follow the recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hynas.errors import UserError
from hynas.proxy.data import balanced_subset, load_dataset
from hynas.proxy.recipe import TrainRecipe

RNG = np.random.default_rng(0)


def write_folder(root: Path, sizes: list[tuple[int, int]], per_class: int = 6, classes: int = 2) -> None:
    from PIL import Image

    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            w, h = sizes[i % len(sizes)]
            px = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8) // (c + 1)  # class 1 darker: learnable
            Image.fromarray(px).save(root / f"c{c}" / f"{i}.png")


def test_mixed_sizes_need_a_resolution(tmp_path: Path) -> None:
    write_folder(tmp_path / "mixed", [(20, 20), (24, 30)])
    with pytest.raises(UserError) as e:
        load_dataset(str(tmp_path / "mixed"))
    msg = str(e.value)
    assert str(tmp_path / "mixed") in msg and "20x20 (6 images)" in msg and "24x30 (6 images)" in msg
    assert "--resolution" in msg
    d = load_dataset(str(tmp_path / "mixed"), recipe=TrainRecipe(resolution=16))
    assert d.streamed and d.resolution is None and "mixed sizes" in d.describe()["storage"]
    x, y = next(d.train_batches(TrainRecipe(resolution=16, batch_size=4, loader_workers=0), 16,
                                torch.Generator().manual_seed(0)))
    assert tuple(x.shape) == (4, 3, 16, 16) and y.dtype == torch.int64


def test_corrupt_image_and_decompression_bomb_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    write_folder(tmp_path / "bad", [(16, 16)])
    (tmp_path / "bad" / "c0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(UserError, match=r"broken\.png: not a readable image"):
        load_dataset(str(tmp_path / "bad"))
    (tmp_path / "bad" / "c0" / "broken.png").unlink()
    good = tmp_path / "bad" / "c0" / "0.png"
    good.write_bytes(good.read_bytes()[:-40])  # header intact, pixel data truncated
    with pytest.raises(UserError, match=r"0\.png: (corrupt image data|not a readable image)"):
        load_dataset(str(tmp_path / "bad"))
    write_folder(tmp_path / "bomb", [(64, 64)], per_class=1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 = 4096 pixels: over the limit
    with pytest.raises(UserError, match="decompression bomb"):
        load_dataset(str(tmp_path / "bomb"))


def test_large_folder_streams_with_same_batches_for_any_worker_count(tmp_path: Path) -> None:
    write_folder(tmp_path / "big", [(24, 24)], per_class=10)
    small = load_dataset(str(tmp_path / "big"))
    assert not small.streamed and small.resolution == 24
    recipe = TrainRecipe(stream_above_mb=0, batch_size=5, augment="light", loader_workers=0)
    d = load_dataset(str(tmp_path / "big"), recipe=recipe)
    assert d.streamed and d.resolution == 24 and "stream_above_mb 0" in d.describe()["storage"]
    assert d.describe()["normalisation"] == "from 16 of 16 training images"
    assert torch.allclose(torch.tensor(d.mean), torch.tensor(small.mean), atol=1e-4)  # same train split, same stats

    def first(workers: int) -> list[torch.Tensor]:
        it = d.train_batches(TrainRecipe(**{**recipe.to_dict(), "loader_workers": workers}), 20,
                             torch.Generator().manual_seed(1))
        return [next(it)[0] for _ in range(3)]

    assert all(torch.equal(a, b) for a, b in zip(first(0), first(2)))
    xs, _ = next(d.eval_batches(20))
    xm, _ = next(small.eval_batches(20))
    assert torch.allclose(xs, xm[: len(xs)], atol=1e-3)  # streamed = in-memory, same eval crop


def test_balanced_subset_and_training_at_the_recipe_resolution(tmp_path: Path) -> None:
    from hynas.proxy.trainer import train_proxy

    labels = torch.tensor([0] * 10 + [1] * 4 + [2] * 7)
    idx = balanced_subset(labels, 3, seed=0)
    assert torch.bincount(labels[idx]).tolist() == [3, 3, 3]
    assert torch.equal(idx, balanced_subset(labels, 3, seed=0)) and balanced_subset(labels, None, 0).numel() == 21
    write_folder(tmp_path / "f", [(40, 40)], per_class=12)
    d = load_dataset(str(tmp_path / "f"))
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    seen: list[tuple[int, ...]] = []
    net.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))
    res = train_proxy(net, d, recipe=TrainRecipe(steps=3, batch_size=4, resolution=24, train_samples=5,
                                                  augment="standard"))
    assert res.resolution == 24 and seen[0] == (4, 3, 24, 24) and d.train_size(TrainRecipe(train_samples=5)) == 10


@pytest.mark.parametrize("preset", ["none", "light", "standard"])
def test_presets_are_seeded_and_keep_the_size(preset: str) -> None:
    from hynas.proxy.augment import PRESETS

    x = torch.randn(6, 3, 20, 28)
    stats = (torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1))
    a = PRESETS.get(preset)(x, 16, torch.Generator().manual_seed(0), stats)
    b = PRESETS.get(preset)(x, 16, torch.Generator().manual_seed(0), stats)
    assert tuple(a.shape) == (6, 3, 16, 16) and torch.equal(a, b)
    c = PRESETS.get(preset)(x, 16, torch.Generator().manual_seed(1), stats)
    assert torch.equal(a, c) == (preset == "none")  # only 'none' is not random


def test_cluttered_is_deterministic_and_64_px() -> None:
    import hashlib

    from hynas.proxy.cluttered import cluttered_arrays

    d = load_dataset("cluttered")
    assert (d.channels, d.resolution, d.classes, len(d.train_y), len(d.val_y)) == (1, 64, 10, 4000, 1000)
    images, _ = cluttered_arrays()
    assert hashlib.sha256(images.tobytes()).hexdigest()[:16] == "4352bc492a6b8afa"  # the same bytes everywhere
    assert torch.equal(d.train_y, load_dataset("digits").train_y)  # same split as digits
