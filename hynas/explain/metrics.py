"""Average Drop and Increase in Confidence (Chattopadhay et al., Grad-CAM++, WACV 2018), as T-TAME reports them.

For image i, class c (the one the network predicts on the original), Y = softmax
probability of c on the original and O = that probability on the image multiplied by its
explanation map (map in [0, 1]; masked-out pixels become the dataset mean, 0 after
normalization):

- AD = 100 * mean_i max(0, Y - O) / Y   (lower is better)
- IC = 100 * mean_i [O > Y]             (higher is better)

T-TAME also reports both with only the top 50% and 15% of each map's pixels kept (the
others set to 0), which tells how much of the evidence sits in the most salient part.
"""

from __future__ import annotations

import torch
from torch import nn

KEEP_FRACTIONS = (1.0, 0.5, 0.15)


def keep_top(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """Maps with all but the top ``fraction`` of each map's pixels set to zero (1.0: unchanged)."""
    if fraction >= 1.0:
        return maps
    flat = maps.flatten(1)
    k = max(1, round(flat.shape[1] * fraction))
    thresh = flat.topk(k, dim=1).values[:, -1:]
    return torch.where(flat >= thresh, flat, torch.zeros_like(flat)).view_as(maps)


@torch.no_grad()
def _probs(model: nn.Module, x: torch.Tensor, cls: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    out = [torch.softmax(model(x[i:i + batch_size]), 1).gather(1, cls[i:i + batch_size, None])[:, 0]
           for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def ad_ic(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, cls: torch.Tensor,
          fractions: tuple[float, ...] = KEEP_FRACTIONS) -> dict[str, float]:
    """AD and IC (percent) of explanation ``maps`` (B, H, W) for classes ``cls``, at each kept fraction."""
    model.eval()
    y = _probs(model, x, cls)
    out: dict[str, float] = {}
    for f in fractions:
        o = _probs(model, x * keep_top(maps, f)[:, None], cls)
        tag = f"{round(f * 100)}"
        out[f"AD_{tag}"] = float(100 * ((y - o).clamp_min(0) / y.clamp_min(1e-12)).mean())
        out[f"IC_{tag}"] = float(100 * (o > y).float().mean())
    return out
