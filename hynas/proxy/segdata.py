"""``shapes_seg``: an embedded segmentation set where the class is the outline, not the texture.

Each 64x64 image is a field of stripes (random angle and period) with Gaussian noise, and
one to three shapes (disc, square, triangle: classes 1-3; background 0) cut into it, each
filled with stripes of another random angle and period drawn from the *same* distribution
as the background's. A pixel's texture therefore tells only that an edge is near; which
shape it belongs to is decided by the outline around it, so a network must combine context
(what convolutions of growing reach or attention give). Masks are the exact shapes, later
shapes painted over earlier ones. Seeded and vectorised: the same arrays on every machine;
1,500 images, split 1,200 / 300.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hynas.proxy.data import DATASETS, Dataset

SIZE = 64
CLASSES = 4  # background, disc, square, triangle


def _stripes(rng: np.random.Generator, n: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    angle = rng.uniform(0, np.pi, (n, 1, 1))
    period = rng.uniform(4, 10, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    return 0.5 + 0.4 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)


def _shape_mask(kind: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray,
                yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    rr = r[:, None, None]
    disc = dy ** 2 + dx ** 2 <= rr ** 2
    square = (np.abs(dy) <= rr * 0.85) & (np.abs(dx) <= rr * 0.85)
    # an upward triangle: below the two slanted sides, above the base
    tri = (dy <= rr * 0.7) & (dy >= -rr + 1.7 * np.abs(dx))
    k = kind[:, None, None]
    return np.where(k == 1, disc, np.where(k == 2, square, tri))


@functools.lru_cache(maxsize=2)
def shapes_seg_arrays(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 1, 64, 64) images in [0, 1] and int64 (n, 64, 64) masks; the same for the same seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    img = _stripes(rng, n, yy, xx)
    mask = np.zeros((n, SIZE, SIZE), dtype=np.int64)
    count = rng.integers(1, 4, n)
    for slot in range(3):
        kind = rng.integers(1, CLASSES, n)
        r = rng.uniform(7, 14, n)
        cy, cx = rng.uniform(r, SIZE - r), rng.uniform(r, SIZE - r)
        inside = _shape_mask(kind, cy, cx, r, yy, xx) & (slot < count)[:, None, None]
        img = np.where(inside, _stripes(rng, n, yy, xx), img)
        mask = np.where(inside, kind[:, None, None], mask)
    img = img + rng.normal(0, 0.08, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)[:, None], mask


def from_masks(name: str, images: np.ndarray, masks: np.ndarray, *, classes: int, val_fraction: float = 0.2,
               seed: int = 0, n_val: int | None = None) -> Dataset:
    """A segmentation ``Dataset``: float images (N, C, H, W), integer masks (N, H, W), a seeded split
    (or, with ``n_val``, the last ``n_val`` images held out as given), per-channel normalisation from
    the train part."""
    if n_val is not None:
        tr, va = np.arange(len(images) - n_val), np.arange(len(images) - n_val, len(images))
    else:
        order = np.random.default_rng(seed).permutation(len(images))
        cut = max(1, round(len(images) * val_fraction))
        tr, va = order[cut:], order[:cut]
    mean = images[tr].mean(axis=(0, 2, 3), keepdims=True)
    std = images[tr].std(axis=(0, 2, 3), keepdims=True) + 1e-6
    to_x = lambda a: torch.from_numpy(np.ascontiguousarray(((a - mean) / std).astype(np.float32)))
    to_y = lambda a: torch.from_numpy(np.ascontiguousarray(a.astype(np.int64)))
    return Dataset(name=name, train_x=to_x(images[tr]), train_y=to_y(masks[tr]), val_x=to_x(images[va]),
                   val_y=to_y(masks[va]), classes=classes, mean=tuple(map(float, mean.flatten())),
                   std=tuple(map(float, std.flatten())), notes={"storage": "memory"}, task="segment")


@DATASETS.decorator("shapes_seg")
def shapes_seg(root: str | None = None, download: bool = False) -> Dataset:
    """1,500 64x64 striped images with discs, squares and triangles to segment (4 classes), 1,200/300 split."""
    images, masks = shapes_seg_arrays()
    return from_masks("shapes_seg", images, masks, classes=CLASSES)


MASKS_ALLOWED = ("images (N,H,W / N,H,W,C / N,C,H,W; or volumes N,C,D,H,W) with masks (N,H,W / N,D,H,W) of "
                 "class ids 0..K-1 at the same size, optionally val_images/val_masks")


def masks_from_npz(path: Any, arrays: dict[str, np.ndarray]) -> Dataset:
    """A segmentation ``Dataset`` from an .npz's ``images``/``masks`` (and ``val_images``/``val_masks``).

    Every refusal is a ``SpecError`` naming the file and key: missing arrays, a mask whose size or count
    disagrees with its images, mask values that are not class ids, NaN/inf pixels, one class only.
    """
    from hynas.errors import SpecError
    from hynas.proxy.checks import check_images, check_labels

    need = ["images", "masks"] + (["val_images", "val_masks"] if "val_images" in arrays or "val_masks" in arrays
                                  else [])
    missing = [k for k in need if k not in arrays]
    if missing:
        raise SpecError(f"has masks but no {' or '.join(missing)} (found {', '.join(sorted(arrays))}).",
                        file=str(path), path=missing[0], allowed=MASKS_ALLOWED)
    splits = [("images", "masks")] + ([("val_images", "val_masks")] if "val_images" in arrays else [])
    pairs = []
    for xk, mk in splits:
        x, m = np.asarray(arrays[xk]), np.asarray(arrays[mk])
        check_images(path, xk, x)
        ids = check_labels(path, mk, m.reshape(-1)).reshape(m.shape)
        x = _channels_first(x, m)
        if x is None:
            raise SpecError(f"images of shape {np.asarray(arrays[xk]).shape} and masks of shape {m.shape} disagree: "
                            "one mask per image, at the image's size.", file=str(path), path=mk, allowed=MASKS_ALLOWED)
        pairs.append((x, ids))
    classes = int(max(int(m.max()) for _, m in pairs)) + 1
    if len(np.unique(pairs[0][1])) < 2:
        raise SpecError("the training masks hold one class only.", file=str(path), path="masks",
                        allowed="two or more classes (background counts)")
    (x, m) = pairs[0]
    name = Path(str(path)).stem
    if x.ndim == 5:
        if len(pairs) == 2:
            raise SpecError("volumes take one set (a seeded 20% is held out); drop val_images/val_masks or merge "
                            "them into images/masks.", file=str(path), path="val_images", allowed=MASKS_ALLOWED)
        from hynas.proxy.segdata3d import from_volumes

        return from_volumes(name, x, m, classes=classes)
    if len(pairs) == 2:
        if pairs[1][0].shape[1:] != x.shape[1:]:
            raise SpecError(f"held-out images are {pairs[1][0].shape[1:]} but training images {x.shape[1:]}.",
                            file=str(path), path="val_images", allowed=MASKS_ALLOWED)
        xv, mv = pairs[1]
        return from_masks(name, np.concatenate([x, xv]), np.concatenate([m, mv]), classes=classes, n_val=len(xv))
    return from_masks(name, x, m, classes=classes)


def _channels_first(x: np.ndarray, m: np.ndarray) -> np.ndarray | None:
    """Images as float32 N,C,... scaled to [0, 1] for uint8, or None when they do not match the masks."""
    x = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
    if len(x) != len(m):
        return None
    spatial = m.shape[1:]
    if x.shape[1:] == spatial:
        return x[:, None]
    if x.ndim == m.ndim + 1 and x.shape[2:] == spatial:
        return x
    if x.ndim == m.ndim + 1 and x.shape[1:-1] == spatial:
        return np.moveaxis(x, -1, 1)
    return None
