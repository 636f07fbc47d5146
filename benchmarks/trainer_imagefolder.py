"""Write a generated ImageFolder of RGB images at a chosen size, for a search that must stream.

Images are the embedded cluttered digits (``hynas.proxy.cluttered``, seeds 0, 1, ... for more
than 5,000), upscaled bilinearly to ``--size`` and coloured: each image gets a random
foreground colour for its strokes and a random dark background tint, so the set is RGB and
colour carries no class information. Layout: ``OUT/train/<digit>/<n>.png`` and
``OUT/val/<digit>/<n>.png``. Deterministic: the same arguments write the same files.

    python benchmarks/trainer_imagefolder.py /tmp/folder96 --train 5000 --val 1000 --size 96

At 96 px, 5,000 training images are 527 MiB as float32, over the in-memory limit
(``stream_above_mb`` 512), so a search on the folder streams it from disk.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from hynas.proxy.cluttered import cluttered_arrays


def canvases(count: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys, seed = [], [], 0
    while sum(len(x) for x in xs) < count:
        x, y = cluttered_arrays(seed)
        xs.append(x)
        ys.append(y)
        seed += 1
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def write(out: Path, train: int, val: int, size: int, seed: int = 0) -> int:
    images, labels = canvases(train + val)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))  # the digits come sorted by class: shuffle before splitting
    images, labels = images[order], labels[order]
    fg = rng.uniform(0.4, 1.0, (len(images), 3))
    bg = rng.uniform(0.0, 0.25, (len(images), 3))
    for i, (img, label) in enumerate(zip(images, labels)):
        split, n = ("train", i) if i < train else ("val", i - train)
        alpha = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR), dtype=np.float32)[..., None] / 255
        rgb = (alpha * fg[i] + (1 - alpha) * bg[i]) * 255
        folder = out / split / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb.round().astype(np.uint8)).save(folder / f"{n:05d}.png")
    return len(images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--train", type=int, default=5000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--size", type=int, default=96)
    a = p.parse_args()
    n = write(a.out, a.train, a.val, a.size)
    print(f"wrote {n} images ({a.train} train, {a.val} val) at {a.size}x{a.size} under {a.out}")


if __name__ == "__main__":
    main()
