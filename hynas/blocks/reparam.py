"""Structural re-parameterisation: train with parallel branches, deploy one fused operator.

Convention (as RepVGG, Ding et al. 2021, and MobileOne, Vasu et al. 2023): a module with
train-time branches has a ``reparameterize()`` method that replaces them, in place, with the
single operator they equal in inference (BatchNorm folded with running statistics), so the
parent module and its ``forward`` are unchanged. ``fuse_for_inference(model)`` calls it on
every such module, children first, and returns the model in eval mode; outputs are equal
before and after (to float rounding). The latency tools call it before export, so latency
is measured on the deployable form, and the fused form is what a user ships.

To keep MACs honest before fusion too, the modules here compute the fused weight on the
fly in eval mode (a few weight-sized ops that ONNX Runtime constant-folds), so the traced
MAC count, eval outputs and the deployed network agree; only training runs the branches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of conv(weight, bias) followed by an eval-mode BatchNorm, as one conv."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bn.bias - bn.running_mean * scale
    if bias is not None:
        b = b + bias * scale
    return weight * scale.reshape(-1, 1, 1, 1), b


def block_mask(out_ch: int, in_ch: int, groups: int) -> torch.Tensor:
    """(out, in, 1, 1) 0/1 mask of the block-diagonal a grouped 1x1 conv occupies in a dense one."""
    rows = torch.arange(out_ch) // (out_ch // groups)
    cols = torch.arange(in_ch) // (in_ch // groups)
    return (rows[:, None] == cols[None, :]).float().reshape(out_ch, in_ch, 1, 1)


class RepGroupConv1x1(nn.Module):
    """Sum of parallel 1x1 convs with different group counts, each with BatchNorm; one dense 1x1 conv deployed.

    A grouped 1x1 conv is a dense one with a block-diagonal weight, so the branches add up
    to a single dense weight (FMViT's convolutional multi-group re-parameterisation, gMLP).
    Group counts that do not divide both widths are skipped (group 1 always stays).
    """

    def __init__(self, in_ch: int, out_ch: int, groups: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.groups = tuple(g for g in dict.fromkeys((1,) + tuple(groups)) if in_ch % g == 0 and out_ch % g == 0)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, groups=g, bias=False), nn.BatchNorm2d(out_ch))
            for g in self.groups)
        for g in self.groups:
            self.register_buffer(f"mask{g}", block_mask(out_ch, in_ch, g), persistent=False)
        self.register_module("fused", None)

    def fused_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The dense weight and bias the branches equal in eval mode."""
        weight = torch.zeros(self.out_ch, self.in_ch, 1, 1, device=self.branches[0][0].weight.device)
        bias = torch.zeros(self.out_ch, device=weight.device)
        for g, branch in zip(self.groups, self.branches):
            w, b = fold_bn(branch[0].weight, None, branch[1])
            weight = weight + w.repeat(1, g, 1, 1) * getattr(self, f"mask{g}")
            bias = bias + b
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x)
        if self.training:
            out = self.branches[0](x)
            for branch in self.branches[1:]:
                out = out + branch(x)
            return out
        weight, bias = self.fused_weight()
        return F.conv2d(x, weight, bias)

    @torch.no_grad()
    def reparameterize(self) -> None:
        if self.fused is not None:
            return
        weight, bias = self.fused_weight()
        self.fused = nn.Conv2d(self.in_ch, self.out_ch, 1).to(weight.device)
        self.fused.weight.copy_(weight)
        self.fused.bias.copy_(bias)
        del self.branches
        self.branches = nn.ModuleList()


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """Fuse every re-parameterisable module of ``model`` in place (children first); returns it in eval mode."""
    model.eval()
    _fuse(model)
    return model


def _fuse(module: nn.Module) -> None:
    for child in list(module.children()):
        _fuse(child)
    fuse = getattr(module, "reparameterize", None)
    if callable(fuse):
        fuse()
