"""``shapes``: an embedded dataset where only the global arrangement decides the class.

Each 1x32x32 image is an 8x8 grid of 4x4-pixel cells. Twelve cells (the figure) form one
of ten class shapes (bar, ring, cross, L, ...), every shape has exactly twelve cells, and
it is placed at a random offset. The figure cells are filled with one texture, the other
52 cells with another; both textures (grating orientation, period, phase, contrast, noise)
are drawn per image independently of the class. So every class holds the same local
patches in the same numbers: a bag of local features cannot tell the classes apart, only
their configuration can. Shuffling the 4x4 cells leaves chance accuracy to any model,
which gives ``hynas.proxy.shape`` a measurable ceiling on a machine with no image data.

5,000 images (500 per class), 4,000 train / 1,000 held-out, generated with a fixed seed
in under a second.
"""

from __future__ import annotations

import functools

import numpy as np

from hynas.proxy.data import DATASETS, Dataset, from_arrays

CELL_PX = 4
GRID = 8
FIGURE_CELLS = 12
# Ten 6x6 figures of exactly twelve cells each ('#' = figure cell).
SHAPES: dict[str, tuple[str, ...]] = {
    "hbar": ("......", "......", "######", "######", "......", "......"),
    "vbar": ("..##..", "..##..", "..##..", "..##..", "..##..", "..##.."),
    "ring": ("......", ".####.", ".#..#.", ".#..#.", ".####.", "......"),
    "cross": ("#....#", ".#..#.", "..##..", "..##..", ".#..#.", "#....#"),
    "ell": ("#.....", "#.....", "#.....", "#.....", "##....", "######"),
    "tee": ("######", "..##..", "..##..", "..##..", "......", "......"),
    "diagonal": ("##....", ".##...", "..##..", "...##.", "....##", "....##"),
    "antidiagonal": ("....##", "...##.", "..##..", ".##...", "##....", "##...."),
    "corners": ("###...", "###...", "......", "......", "...###", "...###"),
    "rails": ("#....#", "#....#", "#....#", "#....#", "#....#", "#....#"),
}


def shape_masks() -> np.ndarray:
    """(10, 6, 6) bool figure masks in class order."""
    return np.array([[[c == "#" for c in row] for row in rows] for rows in SHAPES.values()])


def _texture(rng: np.random.Generator, size_px: int, mean: float) -> np.ndarray:
    """A noisy oriented grating over the whole canvas (cells then cut from it)."""
    yy, xx = np.mgrid[0:size_px, 0:size_px].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period_px = rng.uniform(2.0, 6.0)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period_px + phase)
    amp = rng.uniform(0.10, 0.25)
    return mean + amp * wave + rng.normal(0.0, 0.05, (size_px, size_px))


def render(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32 float image in [0, 1] of class ``label``."""
    figure = np.zeros((GRID, GRID), dtype=bool)
    dy, dx = rng.integers(0, GRID - 6 + 1, size=2)
    figure[dy:dy + 6, dx:dx + 6] = shape_masks()[label]
    pixel_mask = np.kron(figure, np.ones((CELL_PX, CELL_PX), dtype=bool))
    size_px = GRID * CELL_PX
    fg, bg = _texture(rng, size_px, 0.62), _texture(rng, size_px, 0.38)
    return np.clip(np.where(pixel_mask, fg, bg), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=2)
def shapes_arrays(per_class: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32) float32 images and (N,) labels, classes interleaved."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(SHAPES)), per_class)
    images = np.stack([render(int(y), rng) for y in labels])
    return images, labels.astype(np.int64)


@DATASETS.decorator("shapes")
def shapes(root: str | None = None, download: bool = False) -> Dataset:
    """10 global shapes built from the same two random textures, 1x32x32, 4,000/1,000 split."""
    images, labels = shapes_arrays()
    return from_arrays("shapes", images, labels, val_fraction=0.2, seed=0)
