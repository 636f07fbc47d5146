"""Datasets from files: CIFAR python batches, ImageFolder directories, NumPy ``.npz``.

Each format registers in ``FORMATS`` with a ``matches(path)`` test; ``load_path`` asks them
in turn (no if-ladder) and names the path and the accepted formats when none matches.
Every format keeps its images' native resolution; CIFAR and ``.npz`` arrays are in memory
already, so they stay there.

Safety: CIFAR's "python version" is pickle, and unpickling runs code named in the file.
``SafeUnpickler`` allows only what a CIFAR batch contains: plain dicts, lists, bytes and
ints (no lookups needed) plus NumPy's array reconstruction (``_reconstruct``, ``ndarray``,
``dtype``) and ``_codecs.encode`` (str -> bytes, used by protocol-2 pickles written from
Python 3); any other global is refused, so a crafted file cannot execute anything.
``.npz`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hynas.errors import SpecError
from hynas.proxy.checks import check_labelled, check_npz
from hynas.proxy.data import Dataset, from_arrays
from hynas.registry import Registry

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe


@dataclass(frozen=True)
class Format:
    name: str
    describe: str
    matches: Callable[[Path], bool]
    load: Callable[[Path, TrainRecipe], Any]  # -> Dataset, or a StreamedDataset for large folders


FORMATS: Registry[Format] = Registry("dataset format", loader="hynas.proxy")


def dataset_format(name: str, describe: str, matches: Callable[[Path], bool]) -> Callable:
    def wrap(load: Callable[[Path, TrainRecipe], Any]) -> Callable[[Path, TrainRecipe], Any]:
        FORMATS.register(name, Format(name, describe, matches, load))
        return load
    return wrap


def expected_formats() -> str:
    return "; ".join(f"{f.name} ({f.describe})" for _, f in FORMATS.items()) + "; or a registered dataset name"


def load_path(path: Path, recipe: TrainRecipe) -> Any:
    """Load the dataset at ``path`` with the first format that recognizes it (at its native resolution)."""
    if not path.exists():
        raise SpecError("no such dataset file or folder.", file=str(path), allowed=expected_formats())
    for _, fmt in FORMATS.items():  # noqa: PERF102 (Registry has items() only: sorted, loaded)
        if fmt.matches(path):
            try:
                return fmt.load(path, recipe)
            except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError) as e:
                raise SpecError(f"cannot read it as {fmt.name}: {e}", file=str(path)) from None
    raise SpecError("not a dataset this tool can read.", file=str(path), allowed=expected_formats())


class SafeUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches only: NumPy array reconstruction is the one allowed global."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")})  # how protocol-2 pickles written by Python 3 spell a bytes literal

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: CIFAR batches contain only arrays")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> dict[str, Any]:
    """One CIFAR python batch as a dict with str keys (the files use Python 2 byte strings)."""
    with open(path, "rb") as f:
        raw = SafeUnpickler(f, encoding="bytes").load()
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name} does not hold a dict")  # noqa: TRY004 (a data error, reported as such)
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


_CIFAR_SPLITS = {  # folder layout -> (train files, test file, label key)
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels"),
    "cifar100": (["train"], "test", "fine_labels"),
}


def cifar_kind(path: Path) -> str | None:
    for kind, (train, test, _) in _CIFAR_SPLITS.items():
        if path.is_dir() and (path / test).is_file() and (path / train[0]).is_file():
            return kind
    return None


def _cifar_arrays(files: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batches = [read_cifar_batch(f) for f in files]
    x = np.concatenate([np.asarray(b["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for b in batches])
    y = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return x, y


@dataset_format("cifar", "a cifar-10-batches-py or cifar-100-python folder (python pickle batches)",
                lambda p: cifar_kind(p) is not None)
def load_cifar(path: Path, recipe: TrainRecipe | None = None) -> Dataset:
    kind = cifar_kind(path)
    train, test, key = _CIFAR_SPLITS[kind]  # type: ignore[index]
    present = [path / f for f in train if (path / f).is_file()]
    x, y = _cifar_arrays(present, key)
    xv, yv = _cifar_arrays([path / test], key)
    check_labelled(path, {("data", key): (x, y), (f"{test} data", f"{test} {key}"): (xv, yv)})
    return from_arrays(kind, x, y, val_images=xv, val_labels=yv)  # type: ignore[arg-type]


@dataset_format("npz", "a NumPy .npz with x_train, y_train and optionally x_val/y_val or x_test/y_test "
                "(images), or with signals, labels and optionally val_signals/val_labels (1-D, N,C,L or N,L)",
                lambda p: p.is_file() and p.suffix == ".npz")
def load_npz(path: Path, recipe: TrainRecipe | None = None) -> Dataset:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError) as e:  # half-written or truncated: refused like bad arrays
        raise ValueError(f"not a readable .npz ({type(e).__name__}: {e})") from None
    if "masks" in arrays:  # segmentation: images + masks, checked and built in hynas.proxy.segdata
        from hynas.proxy.segdata import masks_from_npz

        return masks_from_npz(path, arrays)
    if "signals" in arrays:  # 1-D sequences: checked and built in hynas.proxy.wavfolder
        from hynas.proxy.wavfolder import signals_from_npz

        return signals_from_npz(path, arrays)
    if "x_train" not in arrays or "y_train" not in arrays:
        raise ValueError("needs arrays x_train and y_train (images) or signals and labels (1-D), "
                         f"found {sorted(arrays)}")
    check_npz(path, arrays)  # labels, classes, finite images: refused naming the key (hynas.proxy.checks)
    for split in ("val", "test"):
        if f"x_{split}" in arrays:
            return from_arrays(path.stem, arrays["x_train"], arrays["y_train"],
                               val_images=arrays[f"x_{split}"], val_labels=arrays[f"y_{split}"])
    return from_arrays(path.stem, arrays["x_train"], arrays["y_train"])
