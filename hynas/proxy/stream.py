"""Datasets read from disk batch by batch, through ``torch.utils.data.DataLoader``.

Only file names and labels stay in memory. Each batch is decoded in DataLoader worker
processes (pinned memory when training on CUDA). Randomness is carried by the sampler,
not by the workers: every sample index travels with its own augmentation seed drawn from
the trainer's seeded generator, so a batch's crops and flips are the same for any number
of workers (0 included: a daemonic process, such as an isolated candidate, cannot start
workers and decodes in-process instead). Per-channel normalisation comes from a seeded
sample of at most ``STATS_SAMPLE`` training images, recorded in ``describe()``.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hynas.proxy.data import Batches, balanced_subset

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe

STATS_SAMPLE = 512


class _Files(torch.utils.data.Dataset):
    """Item ``(index, seed)`` -> (normalised image at ``size``, label); ``seed`` < 0: evaluation crop."""

    def __init__(self, files: list[str], labels: torch.Tensor, grey: bool, stats: tuple, size: int,
                 augment: str) -> None:
        self.files, self.labels, self.grey = files, labels, grey
        self.stats, self.size, self.augment = stats, size, augment

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        from hynas.proxy.augment import PRESETS, resize_center

        i, seed = item
        mean, std = self.stats
        x = (pixels(self.files[i], self.grey)[None] - mean) / std
        if seed < 0:
            x = resize_center(x, self.size)
        else:
            x = PRESETS.get(self.augment)(x, self.size, torch.Generator().manual_seed(seed), self.stats)
        return x[0].contiguous(), self.labels[i]


def pixels(path: str, grey: bool) -> torch.Tensor:
    """One image as float32 C,H,W in [0, 1] at its native size."""
    from hynas.proxy.imagefolder import decode

    a = decode(path, grey)
    t = torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


class _TrainSampler(torch.utils.data.Sampler):
    """Endless seeded epochs over ``indices``: lists of (index, augmentation seed), short batch dropped."""

    def __init__(self, indices: torch.Tensor, batch_size: int, gen: torch.Generator) -> None:
        self.indices, self.batch_size, self.gen = indices, batch_size, gen

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        bs = self.batch_size
        while True:
            perm = self.indices[torch.randperm(len(self.indices), generator=self.gen)].tolist()
            seeds = torch.randint(0, 2**31 - 1, (len(perm),), generator=self.gen).tolist()
            for i in range(0, len(perm) - bs + 1, bs):
                yield list(zip(perm[i:i + bs], seeds[i:i + bs]))


def _seed_worker(worker_id: int) -> None:
    """Per-worker seeding (Python, NumPy, torch) from the seed the DataLoader gave the worker; one thread each."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)


def _worker_context() -> Any:
    """Where DataLoader workers come from: the fork server of the isolated candidates (one lean
    interpreter with torch loaded, ``hynas.search.backends.isolate``), not a fork of the training
    process. A worker forked from the trainer inherits its heap (the model, the optimizer, the
    allocator's freed arenas) and copies every page it touches: 303 MiB private per worker on a
    96-px search, against 57 MiB from the server (docs/BENCHMARKS.md, "Streamed 96-px search")."""
    from hynas.search.backends.isolate import _context

    return _context()


def loader_workers(recipe: TrainRecipe) -> int:
    """Worker processes for a DataLoader: the recipe's, else min(4, half the cores); 0 in a daemonic process."""
    if mp.current_process().daemon:
        return 0
    if recipe.loader_workers is not None:
        return recipe.loader_workers
    return min(4, max(1, recipe.cpu_threads() // 2))


@dataclass(frozen=True)
class StreamedDataset:
    name: str
    train_files: list[str]
    train_y: torch.Tensor
    val_files: list[str]
    val_y: torch.Tensor
    classes: int
    channels: int
    native: tuple[int, int] | None  # (w, h) when every image has this size, else None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    notes: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def create(cls, name: str, files: list[str], labels: list[int], val_files: list[str], val_labels: list[int],
               *, classes: int, channels: int, sizes: Counter, seed: int, reason: str) -> StreamedDataset:
        """Hold out a seeded 20% when there is no val/ folder; normalisation from a bounded sample."""
        y = torch.tensor(labels, dtype=torch.int64)
        if not val_files:
            order = np.random.default_rng(0).permutation(len(files))
            n_val = max(1, round(len(files) * 0.2))
            tr, va = order[n_val:].tolist(), order[:n_val].tolist()  # the same split and order as from_arrays
            files, val_files, y, yv = [files[i] for i in tr], [files[i] for i in va], y[tr], y[va]
        else:
            yv = torch.tensor(val_labels, dtype=torch.int64)
        grey = channels == 1
        pick = np.random.default_rng(seed).permutation(len(files))[:STATS_SAMPLE]
        px = [pixels(files[i], grey).flatten(1) for i in pick]
        allpx = torch.cat(px, dim=1)
        mean, std = allpx.mean(dim=1), allpx.std(dim=1, correction=0) + 1e-6  # as from_arrays (NumPy, ddof 0)
        notes = {"storage": f"streamed from disk ({reason})",
                 "normalisation": f"from {len(pick)} of {len(files)} training images"}
        native = next(iter(sizes)) if len(sizes) == 1 else None
        return cls(name, files, y, val_files, yv, classes, channels, native, tuple(mean.tolist()),
                   tuple(std.tolist()), notes)

    @property
    def resolution(self) -> int | None:
        """The native square size (the shorter side for uniform non-square images); None for mixed sizes."""
        return min(self.native) if self.native else None

    @property
    def streamed(self) -> bool:
        return True

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return mean, std

    def describe(self) -> dict:
        return {"name": self.name, "train": len(self.train_y), "val": len(self.val_y), "classes": self.classes,
                "channels": self.channels, "resolution": self.resolution, **self.notes}

    def train_size(self, recipe: TrainRecipe) -> int:
        return len(balanced_subset(self.train_y, recipe.train_samples, recipe.seed))

    def _loader(self, files: list[str], labels: torch.Tensor, sampler: Any, size: int, augment: str,
                workers: int, pin: bool, gen: torch.Generator | None = None) -> Any:
        ds = _Files(files, labels, self.channels == 1, self.stats(), size, augment)
        return torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                                           worker_init_fn=_seed_worker if workers else None, generator=gen,
                                           prefetch_factor=2 if workers else None,
                                           multiprocessing_context=_worker_context() if workers else None)

    def train_batches(self, recipe: TrainRecipe, size: int, gen: torch.Generator, pin: bool = False) -> Batches:
        idx = balanced_subset(self.train_y, recipe.train_samples, recipe.seed)
        sampler = _TrainSampler(idx, min(recipe.batch_size, len(idx)), gen)
        worker_gen = torch.Generator().manual_seed(recipe.seed)
        return iter(self._loader(self.train_files, self.train_y, sampler, size, recipe.augment,
                                 loader_workers(recipe), pin, worker_gen))

    def eval_batches(self, size: int, limit: int | None = None, recipe: TrainRecipe | None = None,
                     pin: bool = False, batch_size: int = 100) -> Batches:
        n = len(self.val_y) if limit is None else min(limit, len(self.val_y))
        batches = [[(i, -1) for i in range(s, min(n, s + batch_size))] for s in range(0, n, batch_size)]
        workers = min(loader_workers(recipe), len(batches)) if recipe is not None else 0
        return iter(self._loader(self.val_files, self.val_y, batches, size, "none", workers, pin))

    def take(self, idx: torch.Tensor, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        size = size or self.resolution
        ds = _Files(self.train_files, self.train_y, self.channels == 1, self.stats(), size or 0, "none")
        items = [ds[(int(i), -1)] for i in idx]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])
