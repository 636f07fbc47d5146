"""Grad-CAM (Selvaraju et al., ICCV 2017), the baseline T-TAME is compared against.

For the class c and the feature map A (K channels) of one layer, the channel weights are
the spatial mean of dy_c / dA_k, and the map is ReLU(sum_k w_k A_k), upsampled to the
input and scaled to [0, 1]. The layer is the last stage of the network by default, as in
the paper (the last convolutional layer); token outputs are read as maps like T-TAME's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.explain.features import hooked
from hynas.explain.tame import normalize_maps


def gradcam(model: nn.Module, x: torch.Tensor, layer: str, classes: torch.Tensor | None = None,
            batch_size: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """(maps (B, H, W) in [0, 1], classes explained: ``classes`` or the predicted ones)."""
    model.eval()
    maps, picked = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].clone().requires_grad_(True)  # keeps activations in the graph of a frozen net
        with torch.enable_grad(), hooked(model, [layer]) as found:
            logits = model(xb)
            cls = logits.argmax(1) if classes is None else classes[i:i + batch_size]
            feat = found[layer]
            score = logits.gather(1, cls[:, None]).sum()
            (grad,) = torch.autograd.grad(score, feat)
        weights = grad.mean((2, 3), keepdim=True)
        cam = F.relu((weights * feat).sum(1, keepdim=True)).detach()
        up = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        maps.append(normalize_maps(up))
        picked.append(cls.detach())
    return torch.cat(maps), torch.cat(picked)
