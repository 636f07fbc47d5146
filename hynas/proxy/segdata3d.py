"""``shapes_seg3d``: an embedded 3-D segmentation set where the class is the solid's outline, not its texture.

Each 48^3 volume is a field of 3-D stripes (a random direction and period) with Gaussian noise,
and one to three solids (ball, cube, rod: classes 1-3; background 0) cut into it, each filled
with stripes of another random direction and period from the *same* distribution as the
background's. As in ``shapes_seg`` (2-D), a voxel's texture tells only that a boundary is near;
which solid it belongs to is decided by the shape around it (round, boxy or elongated along a
random axis), so a network needs context of growing reach. Later solids are painted over earlier
ones and the masks are exact. 48^3 so that windows of 2, 3, 4, 6 and 12 tile the maps of a net
that halves it up to four times (PCT-Net's windows of 6 at 1/4, 1/8, 1/16). Seeded and
vectorised: the same arrays on every machine; 320 volumes, split 256 / 64.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from hynas.errors import UserError
from hynas.proxy.data import DATASETS, Dataset

SIZE = 48
CLASSES = 4  # background, ball, cube, rod


def _stripes(rng: np.random.Generator, n: int, grid: tuple[np.ndarray, ...]) -> np.ndarray:
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    period = rng.uniform(4, 10, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    out = np.empty((n,) + grid[0].shape, dtype=np.float32)
    for i in range(n):  # one volume at a time keeps the float64 temporaries small
        proj = grid[0] * d[i, 0] + grid[1] * d[i, 1] + grid[2] * d[i, 2]
        out[i] = 0.5 + 0.4 * np.sin(2 * np.pi * proj / period[i] + phase[i])
    return out


def _solid(kind: int, c: np.ndarray, r: float, axis: int, grid: tuple[np.ndarray, ...]) -> np.ndarray:
    z, y, x = (g - ci for g, ci in zip(grid, c))
    if kind == 1:  # ball
        return z ** 2 + y ** 2 + x ** 2 <= r ** 2
    if kind == 2:  # axis-aligned cube of the same extent
        return (np.abs(z) <= 0.8 * r) & (np.abs(y) <= 0.8 * r) & (np.abs(x) <= 0.8 * r)
    long, a, b = [(z, y, x), (y, z, x), (x, z, y)][axis]  # rod: a thin cylinder along a random axis
    return (np.abs(long) <= 1.6 * r) & (a ** 2 + b ** 2 <= (0.55 * r) ** 2)


@functools.lru_cache(maxsize=2)
def shapes_seg3d_arrays(n: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 1, 48, 48, 48) volumes in [0, 1] and int64 (n, 48, 48, 48) masks; the same for the same seed."""
    rng = np.random.default_rng(seed)
    grid = tuple(np.mgrid[0:SIZE, 0:SIZE, 0:SIZE].astype(np.float32))
    img = _stripes(rng, n, grid)
    mask = np.zeros((n, SIZE, SIZE, SIZE), dtype=np.int64)
    count = rng.integers(1, 4, n)
    for slot in range(3):
        kind, r, axis = rng.integers(1, CLASSES, n), rng.uniform(9, 15, n), rng.integers(0, 3, n)
        fill = _stripes(rng, n, grid)
        for i in np.flatnonzero(slot < count):
            c = rng.uniform(r[i] + 1, SIZE - r[i] - 1, 3)
            inside = _solid(int(kind[i]), c, float(r[i]), int(axis[i]), grid)
            img[i][inside] = fill[i][inside]
            mask[i][inside] = kind[i]
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)[:, None], mask


def from_volumes(name: str, volumes: np.ndarray, masks: np.ndarray, *, classes: int, val_fraction: float = 0.2,
                 seed: int = 0) -> Dataset:
    """A 3-D segmentation ``Dataset``: float volumes (N, C, D, H, W), integer masks (N, D, H, W), a seeded
    split, per-channel normalisation from the train part. Refuses masks whose shape or labels disagree."""
    if volumes.ndim != 5 or masks.shape != volumes.shape[:1] + volumes.shape[2:]:
        raise UserError(f"dataset {name}: volumes must be (N, C, D, H, W) and masks (N, D, H, W) of the same N, D, "
                        f"H, W; got {volumes.shape} and {masks.shape}")
    if masks.size and (masks.min() < 0 or masks.max() >= classes):
        raise UserError(f"dataset {name}: mask labels must lie in 0..{classes - 1}; found {masks.min()}..{masks.max()}")
    order = np.random.default_rng(seed).permutation(len(volumes))
    n_val = max(1, round(len(volumes) * val_fraction))
    tr, va = order[n_val:], order[:n_val]
    mean = volumes[tr].mean(axis=(0, 2, 3, 4), keepdims=True)
    std = volumes[tr].std(axis=(0, 2, 3, 4), keepdims=True) + 1e-6
    to_x = lambda a: torch.from_numpy(np.ascontiguousarray(((a - mean) / std).astype(np.float32)))
    to_y = lambda a: torch.from_numpy(np.ascontiguousarray(a.astype(np.int64)))
    return Dataset(name=name, train_x=to_x(volumes[tr]), train_y=to_y(masks[tr]), val_x=to_x(volumes[va]),
                   val_y=to_y(masks[va]), classes=classes, mean=tuple(map(float, mean.flatten())),
                   std=tuple(map(float, std.flatten())), notes={"storage": "memory"}, task="segment")


@DATASETS.decorator("shapes_seg3d")
def shapes_seg3d(root: str | None = None, download: bool = False) -> Dataset:
    """320 48^3 striped volumes with balls, cubes and rods to segment (4 classes), 256/64 split."""
    volumes, masks = shapes_seg3d_arrays()
    return from_volumes("shapes_seg3d", volumes, masks, classes=CLASSES)
