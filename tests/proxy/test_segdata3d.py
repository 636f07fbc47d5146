"""The generated 3-D segmentation set: seeded, exact masks, every class present, refusals of bad arrays."""

from __future__ import annotations

import numpy as np
import pytest

from hynas.errors import UserError
from hynas.proxy.data import DATASETS
from hynas.proxy.segdata3d import CLASSES, SIZE, from_volumes, shapes_seg3d_arrays


def test_volumes_are_seeded_with_every_class() -> None:
    vol, mask = shapes_seg3d_arrays(n=12, seed=3)
    again, mask2 = shapes_seg3d_arrays.__wrapped__(n=12, seed=3)
    assert vol.shape == (12, 1, SIZE, SIZE, SIZE) and vol.dtype == np.float32 and mask.shape == (12, SIZE, SIZE, SIZE)
    assert np.array_equal(vol, again) and np.array_equal(mask, mask2)
    assert not np.array_equal(mask, shapes_seg3d_arrays.__wrapped__(n=12, seed=4)[1])
    assert set(np.unique(mask)) == set(range(CLASSES)) and 0.0 <= vol.min() and vol.max() <= 1.0
    assert (mask > 0).mean() > 0.03  # solids are not specks


def test_from_volumes_splits_and_normalises() -> None:
    vol, mask = shapes_seg3d_arrays(n=12, seed=3)
    ds = from_volumes("t", vol, mask, classes=CLASSES, val_fraction=0.25)
    assert ds.dims == 3 and ds.task == "segment" and ds.train_x.shape == (9, 1, SIZE, SIZE, SIZE)
    assert ds.val_y.shape == (3, SIZE, SIZE, SIZE) and abs(float(ds.train_x.mean())) < 1e-3
    assert "shapes_seg3d" in DATASETS.names()


def test_from_volumes_refuses_masks_that_disagree() -> None:
    vol, mask = shapes_seg3d_arrays(n=12, seed=3)
    with pytest.raises(UserError, match="masks \\(N, D, H, W\\)"):
        from_volumes("t", vol, mask[:, :-1], classes=CLASSES)
    with pytest.raises(UserError, match="labels must lie in 0..2"):
        from_volumes("t", vol, mask, classes=3)
