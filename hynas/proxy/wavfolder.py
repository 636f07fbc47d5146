"""Users' own sequences: ``.npz`` signal arrays and folders of ``.wav`` files, as 1-D datasets.

``.npz`` (read by the ``npz`` format in ``formats.py`` when it holds a ``signals`` array):
``signals`` (N, C, L) or (N, L) and ``labels`` (N,), optionally ``val_signals``/``val_labels``.

``.wav`` folders: ``root/<class>/<file>.wav`` (optionally under ``train/`` and ``val/``), class
ids from the sorted folder names as ImageFolder does. Files are read with the standard library's
``wave`` module: integer PCM of 8, 16, 24 or 32 bits, mono or stereo (or more channels), scaled to
[-1, 1). Every file's header is read first, so mixed sample rates or channel counts are refused
before any samples are decoded, naming two files that differ. Each recording is cut to, or
zero-padded at its end to, one length: ``length`` when given, else the median length of the
training files. Every refusal is a ``SpecError`` that names the file and what is allowed.
"""

from __future__ import annotations

import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hynas.errors import SpecError
from hynas.proxy.data import Dataset, from_arrays
from hynas.proxy.formats import dataset_format

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe

WAV_ALLOWED = "integer PCM .wav (8, 16, 24 or 32-bit), one sample rate and one channel count for every file"
NPZ_ALLOWED = ("signals (N,C,L or N,L, finite numbers) with labels (N, integer class ids 0..K-1), "
               "optionally val_signals and val_labels of the same C,L")


@dataclass(frozen=True)
class WavInfo:
    path: Path
    rate: int
    channels: int
    width: int  # bytes per sample
    frames: int


def _class_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _wavs(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".wav")


def is_wav_folder(root: Path) -> bool:
    if not root.is_dir():
        return False
    base = root / "train" if (root / "train").is_dir() else root
    return any(_wavs(d) for d in _class_dirs(base))


def probe(path: Path) -> WavInfo:
    """The header of one file (no samples read); a file ``wave`` cannot open is refused by name."""
    try:
        with wave.open(str(path), "rb") as w:
            info = WavInfo(path, w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise SpecError(f"not a .wav the standard library can read ({e}); float, compressed and "
                        "extensible-format files are not supported.", file=str(path), allowed=WAV_ALLOWED) from None
    if info.width not in (1, 2, 3, 4):
        raise SpecError(f"{8 * info.width}-bit samples.", file=str(path), allowed=WAV_ALLOWED)
    return info


def read(info: WavInfo) -> np.ndarray:
    """float32 (channels, frames) in [-1, 1): 8-bit is unsigned around 128, wider sizes are signed."""
    with wave.open(str(info.path), "rb") as w:
        raw = w.readframes(info.frames)
    n = len(raw) // (info.width * info.channels)  # a truncated file holds fewer frames than its header says
    if n == 0:
        raise SpecError("holds no samples.", file=str(info.path), allowed=WAV_ALLOWED)
    raw = raw[:n * info.width * info.channels]
    if info.width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif info.width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = ((v ^ 0x800000) - 0x800000).astype(np.float32) / 2 ** 23
    else:
        x = np.frombuffer(raw, f"<i{info.width}").astype(np.float32) / 2 ** (8 * info.width - 1)
    return np.ascontiguousarray(x.reshape(n, info.channels).T)


def _same(infos: list[WavInfo], attr: str, what: str, unit: str) -> None:
    first = infos[0]
    for other in infos[1:]:
        if getattr(other, attr) != getattr(first, attr):
            raise SpecError(f"{what} differs: {first.path} has {getattr(first, attr)} {unit}, {other.path} has "
                            f"{getattr(other, attr)} {unit}.", file=str(other.path),
                            allowed=WAV_ALLOWED + " (resample or convert the odd files)")


def _split_files(base: Path, classes: list[str], split: str, must: bool) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for label, name in enumerate(classes):
        found = _wavs(base / name) if (base / name).is_dir() else []
        if must and not found:
            raise SpecError(f"class folder '{name}' holds no .wav files.", file=str(base / name),
                            allowed=f"at least one .wav in every class folder of the {split} split")
        files += found
        labels += [label] * len(found)
    return files, labels


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    """Cut to ``length`` frames, or zero-pad at the end."""
    return x[:, :length] if x.shape[1] >= length else np.pad(x, ((0, 0), (0, length - x.shape[1])))


@dataset_format("wavfolder", "a folder of class subfolders of .wav files (optionally under train/ and val/)",
                is_wav_folder)
def load_wav_folder(root: Path, recipe: TrainRecipe | None = None, *, length: int | None = None) -> Dataset:
    """Every .wav under ``root``'s class folders as a dims=1 Dataset of (channels, ``length``) signals."""
    split = (root / "train").is_dir() and (root / "val").is_dir()
    base = root / "train" if split else root
    classes = [d.name for d in _class_dirs(base)]
    if len(classes) < 2:
        raise SpecError(f"{len(classes)} class folder(s): {', '.join(classes) or 'none'}.", file=str(base),
                        allowed="two or more class folders of .wav files")
    files, labels = _split_files(base, classes, "train" if split else "", must=True)
    val_files, val_labels = _split_files(root / "val", classes, "val", must=False) if split else ([], [])
    if split:
        extra = sorted({d.name for d in _class_dirs(root / "val")} - set(classes))
        if extra or not val_files:
            what = f"class folder(s) {', '.join(extra)} that train/ lacks" if extra else "no .wav files"
            raise SpecError(f"val/ has {what}.", file=str(root / "val"),
                            allowed=f".wav files in class folders named as in train/: {', '.join(classes)}")
    infos = [probe(f) for f in files + val_files]
    _same(infos, "rate", "sample rate", "Hz")
    _same(infos, "channels", "channel count", "channels")
    if length is not None and (not isinstance(length, int) or length < 1):
        raise SpecError(f"length {length!r} is not a positive number of samples.", file=str(root),
                        allowed="an integer >= 1")
    n_train = len(files)
    length = length or int(np.median([i.frames for i in infos[:n_train]]))
    mib = len(infos) * infos[0].channels * length * 4 / 2 ** 20
    limit = recipe.stream_above_mb if recipe is not None else 512
    if mib > limit:
        raise SpecError(f"{len(infos)} recordings of {length} samples are {mib:.0f} MiB as float32, over "
                        f"stream_above_mb {limit}; .wav folders are held in memory.", file=str(root),
                        allowed="a shorter length, fewer files, or a larger stream_above_mb in the recipe")
    x = np.stack([_fit(read(i), length) for i in infos]) if infos else np.zeros((0, 1, length), np.float32)
    y = np.asarray(labels + val_labels, dtype=np.int64)
    extra_notes = {"sample_rate": infos[0].rate, "classes_named": ",".join(classes)}
    if not split:
        if n_train < 2:
            raise SpecError("one recording cannot be split into train and held-out.", file=str(root),
                            allowed="two or more .wav files, or train/ and val/ folders")
        d = from_arrays(root.name, x, y, dims=1)
    else:
        d = from_arrays(root.name, x[:n_train], y[:n_train], val_images=x[n_train:], val_labels=y[n_train:], dims=1)
    d.notes.update(extra_notes)
    return d


# ---------------------------------------------------------------------------------- .npz signals


def _npz_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all())
    if y.ndim != 1 or not integral:
        raise SpecError(f"labels of dtype {y.dtype}, shape {y.shape}.", file=str(path), path=key, allowed=NPZ_ALLOWED)
    if len(y) != n:
        raise SpecError(f"{n} signals but {len(y)} labels.", file=str(path), path=key, allowed=NPZ_ALLOWED)
    if len(y) and y.min() < 0:
        raise SpecError(f"label {int(y.min())} is negative.", file=str(path), path=key, allowed=NPZ_ALLOWED)
    return y.astype(np.int64)


def _npz_signals(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or x.ndim not in (2, 3) or 0 in x.shape:
        raise SpecError(f"dtype {x.dtype}, shape {x.shape}.", file=str(path), path=key, allowed=NPZ_ALLOWED)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f" else np.zeros(len(x), bool)
    if bad.any():
        raise SpecError(f"signal {int(np.argmax(bad))} holds NaN or inf ({int(bad.sum())} signals do).",
                        file=str(path), path=key, allowed=NPZ_ALLOWED)
    return x


def signals_from_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Dataset:
    """A dims=1 Dataset from an .npz's ``signals``/``labels`` (and ``val_signals``/``val_labels``)."""
    missing = [k for k in ("labels",) if k not in arrays]
    if ("val_signals" in arrays) != ("val_labels" in arrays):
        missing.append("val_labels" if "val_signals" in arrays else "val_signals")
    if missing:
        raise SpecError(f"has signals but no {' or '.join(missing)} (found {', '.join(sorted(arrays))}).",
                        file=str(path), path=missing[0], allowed=NPZ_ALLOWED)
    x = _npz_signals(path, "signals", arrays["signals"])
    y = _npz_labels(path, "labels", arrays["labels"], len(x))
    if len(np.unique(y)) < 2:
        raise SpecError(f"the labels hold only class {int(y[0])}.", file=str(path), path="labels",
                        allowed="two or more classes")
    if "val_signals" not in arrays:
        if len(x) < 2:
            raise SpecError("one signal cannot be split into train and held-out.", file=str(path),
                            path="signals", allowed="two or more signals, or val_signals")
        return from_arrays(path.stem, x, y, dims=1)
    xv = _npz_signals(path, "val_signals", arrays["val_signals"])
    yv = _npz_labels(path, "val_labels", arrays["val_labels"], len(xv))
    shape, vshape = (a.shape[1:] if a.ndim == 3 else (1, a.shape[1]) for a in (x, xv))
    if shape != vshape:
        raise SpecError(f"val_signals are {vshape} (C,L) but signals {shape}.", file=str(path), path="val_signals",
                        allowed="the same channels and length as signals")
    if yv.max() > y.max():
        raise SpecError(f"val label {int(yv.max())} is out of range: the training labels go 0..{int(y.max())}.",
                        file=str(path), path="val_labels", allowed=f"0..{int(y.max())}")
    return from_arrays(path.stem, x, y, val_images=xv, val_labels=yv, dims=1)
