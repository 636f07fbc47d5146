"""T-TAME: a small attention mechanism trained on a frozen classifier's feature maps.

After Ntrougkas, Gkalelis & Mezaris, "T-TAME: Trainable Attention Mechanism for
Explaining Convolutional Networks and Vision Transformers" (IEEE Access, 2024;
arXiv 2403.04523) and its predecessor TAME (2022). What we take from the paper and its
official code (github.com/IDT-ITI/T-TAME):

- feature maps from several layers (three in the paper) of the frozen network; token
  outputs reshaped to maps;
- per layer a feature branch: 1x1 conv (C -> C), batch norm, skip connection, ReLU, then
  bilinear upsampling to the largest of the maps;
- fusion: the branches concatenated and a 1x1 conv to one channel per class; a sigmoid
  gives the class-specific attention maps;
- training: the map of the class the frozen network predicts is upsampled to the input,
  multiplies the (normalized) image, and the masked image goes through the frozen network;
  loss = 1.5 * cross-entropy(masked logits, predicted class)
       + 2 * mean((map + 5e-4) ** 0.3)                         (area: keep the map small)
       + 0.01 * TV(map), squared neighbour differences plus a 0.3-weighted squared border,
         summed and divided by 2 * batch                        (variation: keep it smooth).

Ours differs in the optimizer only: AdamW with a one-cycle schedule for a few hundred
steps (the paper: SGD, one-cycle, 8 ImageNet epochs), sized for small proxy datasets.
An explanation is then one forward pass of the frozen network plus the mechanism.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hynas.explain.features import hooked

CE_WEIGHT, AREA_WEIGHT, AREA_POWER, VAR_WEIGHT, BORDER_WEIGHT = 1.5, 2.0, 0.3, 0.01, 0.3


class FeatureBranch(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)) + x)


class TameAttention(nn.Module):
    """Feature branches per layer, fused into one sigmoid map per class at the largest map size."""

    def __init__(self, channels: Sequence[int], classes: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(FeatureBranch(c) for c in channels)
        self.fuse = nn.Conv2d(sum(channels), classes, 1)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        side = max(m.shape[-1] for m in maps)
        parts = [F.interpolate(b(m), size=(side, side), mode="bilinear", align_corners=False)
                 if m.shape[-1] != side else b(m) for b, m in zip(self.branches, maps)]
        return torch.sigmoid(self.fuse(torch.cat(parts, 1)))


def area_loss(masks: torch.Tensor) -> torch.Tensor:
    return ((masks + 5e-4) ** AREA_POWER).mean()


def variation_loss(masks: torch.Tensor) -> torch.Tensor:
    """Squared differences of neighbours plus a weighted squared border, per image (TAME's smoothness)."""
    dx = (masks[..., 1:, :] - masks[..., :-1, :]).pow(2).sum()
    dy = (masks[..., :, 1:] - masks[..., :, :-1]).pow(2).sum()
    border = (masks[..., 0, :].pow(2).sum() + masks[..., -1, :].pow(2).sum()
              + masks[..., :, 0].pow(2).sum() + masks[..., :, -1].pow(2).sum())
    return (dx + dy + BORDER_WEIGHT * border) / (2 * masks.shape[0])


def tame_loss(masked_logits: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    parts = {"ce": CE_WEIGHT * F.cross_entropy(masked_logits, target), "area": AREA_WEIGHT * area_loss(masks),
             "variation": VAR_WEIGHT * variation_loss(masks)}
    parts["total"] = parts["ce"] + parts["area"] + parts["variation"]
    return parts


def _pick(maps: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    return maps[torch.arange(len(cls)), cls].unsqueeze(1)


@dataclass
class Explainer:
    """A frozen classifier with its trained attention mechanism: maps in one forward pass."""

    model: nn.Module
    layers: list[str]
    attention: TameAttention
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits of the frozen net, class maps at the largest feature size)."""
        with hooked(self.model, self.layers) as found:
            logits = self.model(x)
        return logits, self.attention([found[n] for n in self.layers])

    @torch.no_grad()
    def explain(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps (B, H, W) in [0, 1] at the input size for ``classes`` or the predicted ones, those classes)."""
        self.model.eval()
        self.attention.eval()
        logits, maps = self.forward(x)
        cls = logits.argmax(1) if classes is None else classes
        up = F.interpolate(_pick(maps, cls), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return normalize_maps(up[:, 0]), cls


def normalize_maps(m: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] (min-max), the convention of the AD/IC evaluations."""
    flat = m.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(m)


def _channels(model: nn.Module, layers: list[str], x: torch.Tensor) -> list[int]:
    with hooked(model, layers) as found, torch.no_grad():
        model(x[:2])
    return [int(found[n].shape[1]) for n in layers]


def train_tame(model: nn.Module, train_x: torch.Tensor, layers: list[str], classes: int, *, steps: int = 300,
               batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> Explainer:
    """Train the attention mechanism on ``train_x``; the classifier stays frozen (eval mode, no grads)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    att = TameAttention(_channels(model, layers, train_x), classes)
    exp = Explainer(model, layers, att)
    opt = torch.optim.AdamW(att.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.perf_counter()
    att.train()
    for step in range(1, steps + 1):
        idx = torch.randint(len(train_x), (min(batch_size, len(train_x)),), generator=gen)
        x = train_x[idx]
        logits, maps = exp.forward(x)
        target = logits.argmax(1).detach()
        low = _pick(maps, target)
        masked = model(x * F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False))
        parts = tame_loss(masked, target, low)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 10) == 0 or step == steps:
            exp.history.append({"step": step, **{k: round(float(v.detach()), 5) for k, v in parts.items()}})
    exp.seconds = time.perf_counter() - t0
    att.eval()
    return exp
