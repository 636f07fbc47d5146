"""Datasets for the proxy: tensors in memory, normalized, with a deterministic held-out split.

A dataset is looked up by name in ``DATASETS`` (``digits`` is the embedded default that
needs no download) or, for anything that is not a registered name, by path: a CIFAR
python-format folder, an ImageFolder directory or an ``.npz`` file (see ``formats.py``).
Proxy data is small by design (a few thousand images), so it lives in memory as tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hynas.registry import Registry

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset", loader="hynas.proxy")


@dataclass(frozen=True)
class Dataset:
    """Train and held-out tensors (float32 N,C,H,W normalized per channel; int64 labels)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: int

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.train_x.shape[-1])

    def with_channels(self, channels: int) -> Dataset:
        """The same images repeated to ``channels`` (grey digits fed to an RGB network)."""
        if channels == self.channels:
            return self
        if self.channels != 1:
            raise ValueError(f"can only replicate a 1-channel dataset, {self.name} has {self.channels}")
        rep = lambda t: t.expand(-1, channels, -1, -1).contiguous()
        return Dataset(name=f"{self.name}x{channels}", train_x=rep(self.train_x), train_y=self.train_y,
                       val_x=rep(self.val_x), val_y=self.val_y, classes=self.classes)

    def describe(self) -> dict:
        return {"name": self.name, "train": len(self.train_y), "val": len(self.val_y), "classes": self.classes,
                "channels": self.channels, "resolution": self.resolution}


def from_arrays(name: str, images: np.ndarray, labels: np.ndarray, *, val_fraction: float = 0.2,
                val_images: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                seed: int = 0) -> Dataset:
    """Build a ``Dataset`` from uint8/float images (N,H,W[,C] or N,C,H,W) and integer labels.

    Without an explicit validation set, a seeded permutation holds out ``val_fraction``
    so the split never changes between runs. Normalization statistics come from the train
    part only (the held-out part must not leak into them).
    """
    x = _to_nchw(np.asarray(images))
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} images but {len(y)} labels")
    if val_images is None:
        order = np.random.default_rng(seed).permutation(len(y))
        n_val = max(1, round(len(y) * val_fraction))
        tr, va = order[n_val:], order[:n_val]
        xt, yt, xv, yv = x[tr], y[tr], x[va], y[va]
    else:
        xt, yt = x, y
        xv = _to_nchw(np.asarray(val_images))
        yv = np.asarray(val_labels).astype(np.int64).reshape(-1)
    mean = xt.mean(axis=(0, 2, 3), keepdims=True)
    std = xt.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    classes = int(max(yt.max(), yv.max())) + 1
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(((a - mean) / std).astype(np.float32)))
    return Dataset(name=name, train_x=to_t(xt), train_y=torch.from_numpy(yt), val_x=to_t(xv),
                   val_y=torch.from_numpy(yv), classes=classes)


def _to_nchw(x: np.ndarray) -> np.ndarray:
    """Accept N,H,W / N,H,W,C / N,C,H,W and return float32 N,C,H,W scaled to [0, 1] for uint8."""
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / scale
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must have 3 or 4 dimensions, got shape {x.shape}")
    if x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    return x


def load_dataset(name_or_path: str, *, root: str | None = None, download: bool = False) -> Dataset:
    """A registered dataset by name (``root`` = where its files are), else a dataset at a path.

    ``download`` lets a registered dataset that is missing under ``root`` fetch its official
    archive (checksum verified); the embedded ``digits`` never needs it.
    """
    if name_or_path in DATASETS:
        return DATASETS.get(name_or_path)(root=root, download=download)
    from hynas.proxy.formats import load_path

    return load_path(Path(name_or_path))
