"""RISE (Petsiuk, Das & Saenko, BMVC 2018): a perturbation baseline that needs no gradients.

N random binary masks on a coarse s x s grid (each cell kept with probability p) are
upsampled bilinearly to (s + 1) x cell pixels and cropped at a random shift, so their edges
fall anywhere; the saliency of class c is the mask average weighted by the network's
probability of c on the masked image, sum_i P_c(x * M_i) M_i / (N p). The paper's defaults
are s = 7, p = 0.5 and thousands of masks; we default to s = 8 (cells of 4 px on 32 px
inputs) and fewer masks, so it is the costly baseline: N forward passes per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.explain.tame import normalize_maps


def rise_masks(n: int, side_px: int, grid: int = 8, p: float = 0.5, seed: int = 0) -> torch.Tensor:
    """(n, 1, side_px, side_px) soft masks in [0, 1], deterministic in ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    cell = -(-side_px // grid)
    coarse = (torch.rand(n, 1, grid, grid, generator=gen) < p).float()
    big = F.interpolate(coarse, size=((grid + 1) * cell,) * 2, mode="bilinear", align_corners=False)
    dy, dx = torch.randint(0, cell, (2, n), generator=gen)
    return torch.stack([big[i, :, dy[i]:dy[i] + side_px, dx[i]:dx[i] + side_px] for i in range(n)])


@torch.no_grad()
def rise(model: nn.Module, x: torch.Tensor, classes: torch.Tensor, *, masks: int = 250, grid: int = 8,
         p: float = 0.5, seed: int = 0, chunk: int = 250) -> torch.Tensor:
    """(B, H, W) saliency maps in [0, 1] for ``classes``."""
    model.eval()
    m = rise_masks(masks, x.shape[-1], grid, p, seed)
    out = []
    for img, c in zip(x, classes):
        probs = torch.cat([torch.softmax(model(img[None] * m[i:i + chunk]), 1)[:, c]
                           for i in range(0, masks, chunk)])
        out.append((probs[:, None, None] * m[:, 0]).sum(0) / (masks * p))
    return normalize_maps(torch.stack(out))
