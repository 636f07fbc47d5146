"""Checks on the arrays a dataset file holds, before anything is built from them.

Why here and not in training: a label of -1 or NaN, a float label, one class only, or a
NaN pixel does not fail where it enters; it becomes an index error deep in the loss, a
model with one output that every candidate "solves" at accuracy 1.0, or NaN losses that
fail every trial of a search. A format loader (``hynas.proxy.formats``) calls
:func:`check_labelled` with the file and the names of its arrays, so the refusal names the
file, the key and what is allowed, and the CLI exits 2 before a run directory is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hynas.errors import SpecError

MAX_CLASSES = 100_000  # a label past this is a corrupt file, not a classification task (the head would be huge)
LABELS_ALLOWED = f"integers 0..{MAX_CLASSES - 1} (class indices), at least 2 distinct classes in the training split"


def check_labelled(file: str | Path, pairs: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> None:
    """Refuse images/labels a search cannot train on; ``pairs``: (image key, label key) -> (images, labels).

    The first pair is the training split: it must hold at least two classes. Every split must have
    one label per sample, labels that are non-negative integers (a float array is accepted when
    every value is integral, as NumPy writes labels from pandas) and images with no NaN or inf.
    """
    for i, ((xkey, ykey), (x, y)) in enumerate(pairs.items()):
        check_images(file, xkey, x)
        labels = check_labels(file, ykey, y)
        if len(labels) != len(x):
            raise SpecError(f"{len(x)} samples in '{xkey}' but {len(labels)} labels in '{ykey}'.", file=str(file),
                            path=ykey, allowed="one label per sample")
        if i == 0 and len(np.unique(labels)) < 2:
            found = f"only class {int(labels[0])}" if len(labels) else "no labels"
            raise SpecError(f"the training labels hold {found}: a classifier needs two classes or more.",
                            file=str(file), path=ykey, allowed=LABELS_ALLOWED)


def check_images(file: str | Path, key: str, x: np.ndarray) -> None:
    """Images (or signals) with a numeric dtype, at least one sample, no empty axis, no NaN or inf."""
    x = np.asarray(x)
    allowed = "a non-empty numeric array (uint8 or float), N samples of at least 1 value per axis, all finite"
    if x.dtype.kind not in "uif" or x.dtype == np.bool_:
        raise SpecError(f"dtype {x.dtype} is not numeric.", file=str(file), path=key, allowed=allowed)
    if x.ndim < 2 or 0 in x.shape:
        raise SpecError(f"shape {x.shape} has no samples or an empty axis.", file=str(file), path=key,
                        allowed=allowed)
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise SpecError(f"{int(bad.sum())} values are NaN or inf (first at index {first}: {x[first].item()}).",
                            file=str(file), path=key, allowed=allowed)


def check_labels(file: str | Path, key: str, y: np.ndarray) -> np.ndarray:
    """Labels as int64, or a ``SpecError`` naming the first bad value."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise SpecError(f"labels have shape {y.shape}; one class index per sample is needed (not one-hot).",
                        file=str(file), path=key, allowed=LABELS_ALLOWED)
    if y.dtype.kind not in "uif" or y.dtype == np.bool_:
        raise SpecError(f"label dtype {y.dtype} is not numeric.", file=str(file), path=key, allowed=LABELS_ALLOWED)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.argmax(bad))
            what = "NaN or inf" if not np.isfinite(y[i]) else "not an integer"
            raise SpecError(f"label {i} is {y[i].item()!r} ({what}; {int(bad.sum())} such labels).", file=str(file),
                            path=key, allowed=LABELS_ALLOWED)
    out_of_range = (y < 0) | (y >= MAX_CLASSES)
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise SpecError(f"label {i} is {y[i].item()!r} ({int(out_of_range.sum())} labels out of range).", file=str(file),
                        path=key, allowed=LABELS_ALLOWED)
    return y.astype(np.int64)


def check_npz(file: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """:func:`check_labelled` on an ``.npz``'s x_train/y_train and, where present, x_val/y_val and x_test/y_test."""
    pairs = {("x_train", "y_train"): (arrays["x_train"], arrays["y_train"])}
    for split in ("val", "test"):
        if f"x_{split}" in arrays and f"y_{split}" in arrays:
            pairs[(f"x_{split}", f"y_{split}")] = (arrays[f"x_{split}"], arrays[f"y_{split}"])
    check_labelled(file, pairs)
