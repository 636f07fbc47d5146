"""ImageFolder datasets: ``root/<class>/<image>``, optionally split into ``train/`` and ``val/``.

Class names are the sorted subfolder names (as torchvision's ImageFolder does, so label
ids agree). Images are decoded with Pillow, converted to RGB (or kept grey when every
image is grey) and resized to a square ``IMAGE_SIZE`` so they stack into one tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hynas.proxy.data import Dataset, from_arrays
from hynas.proxy.formats import dataset_format

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
IMAGE_SIZE = 32


def _class_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _is_image_folder(root: Path) -> bool:
    if not root.is_dir():
        return False
    base = root / "train" if (root / "train").is_dir() else root
    return any(f.suffix.lower() in IMAGE_EXTENSIONS for d in _class_dirs(base) for f in d.iterdir())


def _read(root: Path, classes: list[str]) -> tuple[list, np.ndarray]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []
        for f in files:
            with Image.open(f) as im:
                images.append(im.copy())
            labels.append(label)
    return images, np.asarray(labels, dtype=np.int64)


def _stack(images: list, grey: bool) -> np.ndarray:
    from PIL import Image

    mode = "L" if grey else "RGB"
    out = [np.asarray(im.convert(mode).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)) for im in images]
    return np.stack(out).astype(np.uint8)


@dataset_format("imagefolder", "a folder of class subfolders of images (optionally under train/ and val/)",
                _is_image_folder)
def load_image_folder(root: Path) -> Dataset:
    split = (root / "train").is_dir() and (root / "val").is_dir()
    base = root / "train" if split else root
    classes = [d.name for d in _class_dirs(base)]
    images, labels = _read(base, classes)
    val_images, val_labels = _read(root / "val", classes) if split else ([], np.zeros(0, dtype=np.int64))
    if not images:
        raise ValueError("no images found in its class folders")
    grey = all(im.mode in ("L", "1", "I", "I;16") for im in images + val_images)
    x = _stack(images, grey)
    if not split:
        return from_arrays(root.name, x, labels)
    return from_arrays(root.name, x, labels, val_images=_stack(val_images, grey), val_labels=val_labels)
