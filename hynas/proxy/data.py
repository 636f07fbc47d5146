"""Datasets for the proxy: in memory or streamed from disk, at their native resolution.

A dataset is looked up by name in ``DATASETS`` (``digits`` and ``cluttered`` are embedded and
need no download) or, for anything that is not a registered name, by path: a CIFAR
python-format folder, an ImageFolder directory or an ``.npz`` file (see ``formats.py``).
Nothing is resized when loading: the trainer resizes to the recipe's resolution
(``augment.py``). Small datasets live in memory as normalised float tensors (``Dataset``);
an ImageFolder whose training tensors would exceed ``TrainRecipe.stream_above_mb`` is read
from disk batch by batch instead (``stream.StreamedDataset``). Both give the trainer the
same three calls: ``train_batches``, ``eval_batches`` and ``take``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hynas.registry import Registry

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset", loader="hynas.proxy")
Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Dataset:
    """Train and held-out tensors (float32 N,C,H,W, or N,C,L for signals, normalized per channel; int64 labels)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: int
    mean: tuple[float, ...] = ()  # per-channel pixel mean/std of the train split (pixels in [0, 1])
    std: tuple[float, ...] = ()
    notes: dict[str, Any] = field(default_factory=dict, compare=False)
    task: str = "classify"  # what is scored (hynas.proxy.tasks): classify -> accuracy, binary -> AUC
    #: feature fields ((name, "cat" | "dense", size), ...): the tensors are (N, columns) tables, one token a field
    fields: tuple[tuple[str, str, int], ...] = ()

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def dims(self) -> int:
        """Spatial axes: 1 for signals (N, C, L) and feature fields (a token each), 2 for images."""
        return 1 if self.fields else int(self.train_x.ndim - 2)

    @property
    def resolution(self) -> int:
        """Images: the native square size, the shorter side (non-square images are centre-cropped to it).
        Signals: the length. Feature fields: their number."""
        return len(self.fields) if self.fields else int(min(self.train_x.shape[2:]))

    @property
    def streamed(self) -> bool:
        return False

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.channels
        shape = (1, -1) + (1,) * self.dims
        mean = torch.tensor(self.mean or (0.0,) * c, dtype=torch.float32).view(shape)
        std = torch.tensor(self.std or (1.0,) * c, dtype=torch.float32).view(shape)
        return mean, std

    def with_channels(self, channels: int) -> Dataset:
        """The same images repeated to ``channels`` (grey digits fed to an RGB network)."""
        if channels == self.channels:
            return self
        if self.channels != 1:
            raise ValueError(f"can only replicate a 1-channel dataset, {self.name} has {self.channels}")
        rep = lambda t: t.expand(-1, channels, *t.shape[2:]).contiguous()
        return replace(self, name=f"{self.name}x{channels}", train_x=rep(self.train_x), val_x=rep(self.val_x),
                       mean=self.mean * channels, std=self.std * channels)

    def describe(self) -> dict:
        extent = {"length": self.resolution, "dims": 1} if self.dims == 1 else {"resolution": self.resolution}
        if self.fields:
            extent = {"fields": [list(f) for f in self.fields]}
        task = {} if self.task == "classify" else {"task": self.task}
        return {"name": self.name, "train": len(self.train_y), "val": len(self.val_y), "classes": self.classes,
                "channels": self.channels, **extent, **task, **self.notes}

    # ------------------------------------------------------------------ what the trainer calls

    def train_batches(self, recipe: TrainRecipe, size: int, gen: torch.Generator, pin: bool = False) -> Batches:
        """Endless seeded epochs of augmented batches at ``size`` (the last short batch dropped)."""
        from hynas.proxy.augment import PRESETS, resize_center

        idx_all = balanced_subset(self.train_y, recipe.train_samples, recipe.seed)
        if self.task == "segment" and size != self.resolution:
            from hynas.errors import UserError

            raise UserError(f"{self.name}: a segmentation set trains at its masks' size ({self.resolution}); "
                            f"drop --resolution/--proxy-resolution ({size}).")
        if (self.dims != 2 or self.task == "segment") and recipe.augment != "none":
            from hynas.errors import UserError

            raise UserError(f"{self.name}: augment '{recipe.augment}' is an image-classification preset (flips, "
                            f"crops, colour); a {self.dims}-D or segmentation dataset trains with augment none.")
        preset, stats = PRESETS.get(recipe.augment), self.stats()
        # Deterministic resizing is done once; the standard preset crops from the native images.
        x = self.train_x if recipe.augment == "standard" else resize_center(self.train_x, size)
        bs = min(recipe.batch_size, len(idx_all))
        while True:
            perm = idx_all[torch.randperm(len(idx_all), generator=gen)]
            for i in range(0, len(perm) - bs + 1, bs):
                idx = perm[i:i + bs]
                xb = x[idx]
                yield (preset(xb, size, gen, stats) if recipe.augment != "none" else xb), self.train_y[idx]

    def eval_batches(self, size: int, limit: int | None = None, recipe: TrainRecipe | None = None,
                     pin: bool = False, batch_size: int = 500) -> Batches:
        from hynas.proxy.augment import resize_center

        n = len(self.val_y) if limit is None else min(limit, len(self.val_y))
        for i in range(0, n, batch_size):
            j = min(n, i + batch_size)
            yield resize_center(self.val_x[i:j], size), self.val_y[i:j]

    def take(self, idx: torch.Tensor, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training images ``idx`` at ``size`` (resize + centre crop), e.g. a zero-cost proxy's batch."""
        from hynas.proxy.augment import resize_center

        x = self.train_x[idx]
        return (resize_center(x, size) if size else x), self.train_y[idx]

    def train_size(self, recipe: TrainRecipe) -> int:
        return len(balanced_subset(self.train_y, recipe.train_samples, recipe.seed))


def balanced_subset(labels: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Indices of at most ``per_class`` images of each class, drawn with ``seed`` (all when None)."""
    if per_class is None:
        return torch.arange(len(labels))
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        keep.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
    return torch.sort(torch.cat(keep)).values


def from_arrays(name: str, images: np.ndarray, labels: np.ndarray, *, val_fraction: float = 0.2,
                val_images: np.ndarray | None = None, val_labels: np.ndarray | None = None,
                seed: int = 0, dims: int = 2) -> Dataset:
    """Build a ``Dataset`` from uint8/float images (N,H,W[,C] or N,C,H,W) and integer labels.

    With ``dims=1`` the arrays are signals, N,C,L (or N,L for one channel), kept as they are.
    Without an explicit validation set, a seeded permutation holds out ``val_fraction``
    so the split never changes between runs. Normalization statistics come from the train
    part only (the held-out part must not leak into them).
    """
    from hynas.proxy.checks import check_labelled

    check_labelled(name, {("images", "labels"): (np.asarray(images), np.asarray(labels))})
    shape = _to_ncl if dims == 1 else _to_nchw
    x = shape(np.asarray(images))
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} {'signals' if dims == 1 else 'images'} but {len(y)} labels")
    if val_images is None:
        order = np.random.default_rng(seed).permutation(len(y))
        n_val = max(1, round(len(y) * val_fraction))
        tr, va = order[n_val:], order[:n_val]
        xt, yt, xv, yv = x[tr], y[tr], x[va], y[va]
    else:
        xt, yt = x, y
        xv = shape(np.asarray(val_images))
        yv = np.asarray(val_labels).astype(np.int64).reshape(-1)
    if xv.shape[1:] != xt.shape[1:]:
        layout = "C,L" if dims == 1 else "C,H,W"
        raise ValueError(f"{name}: training data is {xt.shape[1:]} ({layout}) but held-out data {xv.shape[1:]}")
    axes = (0,) + tuple(range(2, xt.ndim))
    mean = xt.mean(axis=axes, keepdims=True)
    std = xt.std(axis=axes, keepdims=True) + 1e-6
    classes = int(max(yt.max(), yv.max())) + 1
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(((a - mean) / std).astype(np.float32)))
    return Dataset(name=name, train_x=to_t(xt), train_y=torch.from_numpy(yt), val_x=to_t(xv),
                   val_y=torch.from_numpy(yv), classes=classes, mean=tuple(map(float, mean.flatten())),
                   std=tuple(map(float, std.flatten())), notes={"storage": "memory"})


def from_fields(name: str, table: np.ndarray, labels: np.ndarray, fields: tuple[tuple[str, str, int], ...], *,
                val_fraction: float = 0.2, seed: int = 0, task: str = "binary") -> Dataset:
    """A feature-field ``Dataset`` from a (N, columns) table laid out as ``fields`` says.

    Categorical columns keep their integer ids (checked against each vocabulary by the caller);
    dense columns are normalised with the train split's mean and std, as images are per channel.
    """
    x = np.asarray(table, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, round(len(y) * val_fraction))
    tr, va = order[n_val:], order[:n_val]
    dense = np.zeros(x.shape[1], dtype=bool)
    col = 0
    for _, kind, size in fields:
        width = 1 if kind == "cat" else size
        dense[col:col + width] = kind == "dense"
        col += width
    mean = np.where(dense, x[tr].mean(0), 0.0)
    std = np.where(dense, x[tr].std(0) + 1e-6, 1.0)
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(((a - mean) / std).astype(np.float32)))
    return Dataset(name=name, train_x=to_t(x[tr]), train_y=torch.from_numpy(y[tr]), val_x=to_t(x[va]),
                   val_y=torch.from_numpy(y[va]), classes=int(y.max()) + 1, notes={"storage": "memory"},
                   task=task, fields=tuple(fields))


def _to_ncl(x: np.ndarray) -> np.ndarray:
    """Signals as float32 N,C,L (N,L gains a channel axis); values kept as they are."""
    x = x.astype(np.float32)
    if x.ndim == 2:
        return x[:, None]
    if x.ndim != 3:
        raise ValueError(f"signals must have 2 (N,L) or 3 (N,C,L) dimensions, got shape {x.shape}")
    return x


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


def load_dataset(name_or_path: str, *, root: str | None = None, download: bool = False,
                 recipe: TrainRecipe | None = None) -> Any:
    """A registered dataset by name (``root`` = where its files are), else a dataset at a path.

    ``download`` lets a registered dataset that is missing under ``root`` fetch its official
    archive (checksum verified); the embedded ``digits`` never needs it. ``recipe`` decides
    whether a large ImageFolder streams and whether images of several sizes are allowed
    (only with a ``resolution``).
    """
    if name_or_path in DATASETS:
        return DATASETS.get(name_or_path)(root=root, download=download)
    from hynas.proxy.formats import load_path
    from hynas.proxy.recipe import TrainRecipe

    return load_path(Path(name_or_path), recipe or TrainRecipe())
