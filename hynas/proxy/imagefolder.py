"""ImageFolder datasets: ``root/<class>/<image>``, optionally split into ``train/`` and ``val/``.

Class names are the sorted subfolder names (as torchvision's ImageFolder does, so label
ids agree). Images keep their native size: every file's header is read first (size, mode),
so a folder of mixed sizes without a recipe ``resolution`` is refused before any training,
naming the sizes found. A folder whose training images, as float32 tensors, fit under
``TrainRecipe.stream_above_mb`` is decoded into memory; a larger one (or a mixed-size one)
streams from disk (``stream.py``). A file Pillow cannot read, or one over Pillow's
decompression-bomb limit, is a ``UserError`` naming the file.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hynas.errors import UserError
from hynas.proxy.data import from_arrays
from hynas.proxy.formats import dataset_format

if TYPE_CHECKING:
    from hynas.proxy.recipe import TrainRecipe

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
GREY_MODES = ("L", "1", "I", "I;16", "LA")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _is_image_folder(root: Path) -> bool:
    if not root.is_dir():
        return False
    base = root / "train" if (root / "train").is_dir() else root
    return any(f.suffix.lower() in IMAGE_EXTENSIONS for d in _class_dirs(base) for f in d.iterdir())


def list_files(root: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        found = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []
        files += [str(f) for f in found]
        labels += [label] * len(found)
    return files, labels


def open_image(path: str) -> Any:
    """``PIL.Image.open`` with a corrupt file or a decompression bomb turned into a ``UserError``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path}: refused as a possible decompression bomb ({e}).") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable image ({type(e).__name__}: {e}). Remove or replace the file.") from None


def decode(path: str, grey: bool) -> np.ndarray:
    """The image's pixels, uint8 H,W (grey) or H,W,3 (RGB), at its native size."""
    im = open_image(path)
    try:
        with im:
            return np.array(im.convert("L" if grey else "RGB"))  # a writable copy (torch.from_numpy needs one)
    except OSError as e:  # truncated or corrupt data past the header
        raise UserError(f"{path}: corrupt image data ({e}). Remove or replace the file.") from None


def probe(files: list[str]) -> tuple[Counter, bool]:
    """Sizes (w, h) found, with counts, and whether every image is grey; headers only."""
    sizes: Counter = Counter()
    grey = True
    for f in files:
        with open_image(f) as im:
            sizes[im.size] += 1
            grey = grey and im.mode in GREY_MODES
    return sizes, grey


def _sizes_text(sizes: Counter) -> str:
    common = sizes.most_common(4)
    more = f" and {len(sizes) - 4} more" if len(sizes) > 4 else ""
    return ", ".join(f"{w}x{h} ({n} images)" for (w, h), n in common) + more


@dataset_format("imagefolder", "a folder of class subfolders of images (optionally under train/ and val/)",
                _is_image_folder)
def load_image_folder(root: Path, recipe: TrainRecipe) -> Any:
    split = (root / "train").is_dir() and (root / "val").is_dir()
    base = root / "train" if split else root
    classes = [d.name for d in _class_dirs(base)]
    files, labels = list_files(base, classes)
    val_files, val_labels = list_files(root / "val", classes) if split else ([], [])
    if not files:
        raise ValueError("no images found in its class folders")
    sizes, grey = probe(files + val_files)
    if len(sizes) > 1 and recipe.resolution is None:
        raise UserError(f"{root}: images differ in size ({_sizes_text(sizes)}). Give a resolution "
                        "(--resolution N, or 'resolution: N' in the recipe) to train every image at NxN.")
    (w, h), channels = next(iter(sizes)), 1 if grey else 3
    train_mb = len(files) * channels * w * h * 4 / 2**20
    if len(sizes) > 1 or train_mb > recipe.stream_above_mb:
        from hynas.proxy.stream import StreamedDataset

        return StreamedDataset.create(root.name, files, labels, val_files, val_labels, classes=len(classes),
                                      channels=channels, sizes=sizes, seed=recipe.seed,
                                      reason=f"{train_mb:.0f} MiB as float32 > stream_above_mb "
                                             f"{recipe.stream_above_mb}" if len(sizes) == 1 else "mixed sizes")
    x = np.stack([decode(f, grey) for f in files])
    if not split:
        return from_arrays(root.name, x, np.asarray(labels))
    xv = np.stack([decode(f, grey) for f in val_files]) if val_files else x[:0]
    return from_arrays(root.name, x, np.asarray(labels), val_images=xv, val_labels=np.asarray(val_labels))
