"""PNG overlays of explanation maps (matplotlib's colormap, Pillow-backed ``imsave``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def display_images(x: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> np.ndarray:
    """(B, H, W, 3) floats in [0, 1]: normalized images undone (or min-max scaled), grey repeated to RGB."""
    img = x * std + mean if mean is not None and std is not None else x
    img = img.detach().float()
    if mean is None or std is None:
        flat = img.flatten(1)
        lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
        img = (img - lo) / (hi - lo).clamp_min(1e-12)
    img = img.clamp(0, 1)
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    return img[:, :3].permute(0, 2, 3, 1).numpy()


def overlay(images: np.ndarray, maps: torch.Tensor, alpha: float = 0.5) -> np.ndarray:
    """Images blended with the 'jet' colouring of their maps (B, H, W) in [0, 1]."""
    from matplotlib import colormaps

    heat = colormaps["jet"](maps.detach().numpy())[..., :3]
    return (1 - alpha) * images + alpha * heat


def _upscale(a: np.ndarray, factor: int) -> np.ndarray:
    return np.kron(a, np.ones((factor, factor, 1))) if factor > 1 else a


def write_overlays(out_dir: Path, images: np.ndarray, maps: torch.Tensor, names: Sequence[str],
                   scale: int = 4) -> list[Path]:
    """One PNG per image (original | overlay side by side), upscaled ``scale`` x for viewing."""
    import matplotlib.image as mpimg

    out_dir.mkdir(parents=True, exist_ok=True)
    over = overlay(images, maps)
    paths = []
    for img, ov, name in zip(images, over, names):
        p = out_dir / f"{name}.png"
        mpimg.imsave(p, np.clip(_upscale(np.concatenate([img, ov], axis=1), scale), 0, 1))
        paths.append(p)
    return paths


def write_grid(path: Path, images: np.ndarray, columns: dict[str, torch.Tensor], labels: Sequence[str]) -> Path:
    """A figure: one row per image, the original then one overlay per method (for docs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(images), 1 + len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    for r in range(rows):
        axes[r][0].imshow(images[r])
        axes[r][0].set_ylabel(labels[r], fontsize=7)
        for c, (name, maps) in enumerate(columns.items(), start=1):
            axes[r][c].imshow(np.clip(overlay(images[r:r + 1], maps[r:r + 1])[0], 0, 1))
            if r == 0:
                axes[r][c].set_title(name, fontsize=8)
        if r == 0:
            axes[r][0].set_title("image", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
