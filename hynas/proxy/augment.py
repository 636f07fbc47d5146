"""Augmentation presets and the resize rules, written with torch alone (no torchvision).

Every function takes a float batch ``(N, C, H, W)`` already normalised per channel and a
seeded ``torch.Generator``, so the same seed gives the same crops and flips. Presets:

- ``none``: resize (shorter side to the size, bilinear with antialiasing) + centre crop;
  nothing random. Evaluation always uses this.
- ``light``: ``none``, then a horizontal flip (p = 0.5) and a random crop after zero padding
  by an eighth of the size (the CIFAR ResNet recipe's pad-4-crop-32, scaled).
- ``standard``: random-resized-crop (area 25-100%, aspect 3/4-4/3, the Inception crop with a
  floor suited to small images), flip, colour jitter (brightness, contrast, saturation +-0.4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from hynas.registry import Registry

Stats = tuple[torch.Tensor, torch.Tensor]  # per-channel mean and std, shape (1, C, 1, 1)
Preset = Callable[[torch.Tensor, int, torch.Generator, Stats], torch.Tensor]
PRESETS: Registry[Preset] = Registry("augmentation preset")


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def resize_center(x: torch.Tensor, size: int) -> torch.Tensor:
    """Shorter side to ``size``, then the central ``size`` x ``size`` crop; unchanged when it is already so.

    A signal batch (N, C, L) is resampled to length ``size`` (linear interpolation).
    """
    if x.ndim == 2:  # a feature-field table: nothing to resize
        return x
    if x.ndim == 3:
        return x if x.shape[-1] == size else F.interpolate(x, size=size, mode="linear", align_corners=False)
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[..., top:top + size, left:left + size]


def flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mask = (torch.rand(x.shape[0], generator=gen) < 0.5).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(-1), x)


def pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` (zero = the mean colour after normalisation) and crop back at a random offset."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen).tolist()
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offs)])


def random_resized_crop(x: torch.Tensor, size: int, gen: torch.Generator, scale: tuple[float, float] = (0.25, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Per image: a box of random area fraction and aspect ratio at a random place, resized to ``size``."""
    n, _, h, w = x.shape
    area = _uniform(gen, n, *scale) * h * w
    aspect = torch.exp(_uniform(gen, n, math.log(ratio[0]), math.log(ratio[1])))
    ch = torch.sqrt(area / aspect).round().clamp(1, h).long()
    cw = torch.sqrt(area * aspect).round().clamp(1, w).long()
    ty, tx = torch.rand(n, generator=gen), torch.rand(n, generator=gen)
    out = []
    for i in range(n):
        bh, bw = int(ch[i]), int(cw[i])
        top, left = int(ty[i] * (h - bh + 1)), int(tx[i] * (w - bw + 1))
        box = x[i:i + 1, :, top:top + bh, left:left + bw]
        out.append(F.interpolate(box, size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=bh > size or bw > size))
    return torch.cat(out)


def colour_jitter(x: torch.Tensor, gen: torch.Generator, stats: Stats, strength: float = 0.4) -> torch.Tensor:
    """Brightness, contrast and (RGB only) saturation factors in [1 - s, 1 + s], applied in pixel space."""
    mean, std = stats
    n = x.shape[0]
    px = x * std + mean
    b, c, s = (_uniform(gen, n, 1 - strength, 1 + strength).view(-1, 1, 1, 1) for _ in range(3))
    px = px * b
    grey = px.mean(dim=1, keepdim=True)
    px = (px - grey.mean(dim=(2, 3), keepdim=True)) * c + grey.mean(dim=(2, 3), keepdim=True)
    if px.shape[1] == 3:
        grey = px.mean(dim=1, keepdim=True)
        px = grey + (px - grey) * s
    return (px.clamp(0, 1) - mean) / std


@PRESETS.decorator("none")
def none(x: torch.Tensor, size: int, gen: torch.Generator, stats: Stats) -> torch.Tensor:
    return resize_center(x, size)


@PRESETS.decorator("light")
def light(x: torch.Tensor, size: int, gen: torch.Generator, stats: Stats) -> torch.Tensor:
    return pad_crop(flip(resize_center(x, size), gen), max(1, size // 8), gen)


@PRESETS.decorator("standard")
def standard(x: torch.Tensor, size: int, gen: torch.Generator, stats: Stats) -> torch.Tensor:
    return colour_jitter(flip(random_resized_crop(x, size, gen), gen), gen, stats)
