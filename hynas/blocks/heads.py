"""Classifier heads: map -> logits."""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.space.catalog import choice_knob, float_knob, int_knob


@register_block("pool_linear", role="head", family="common", paper="common practice (global average pool + linear)",
                knobs={"norm": choice_knob("none", ("none", "bn", "ln")), "dropout": float_knob(0.0, 0.0, 0.9)},
                dims=(1, 2, 3))
class PoolLinearHead(nn.Module):
    """Global average pool (over every spatial axis: a signal's length or an image's map), norm, dropout, linear."""

    def __init__(self, in_ch: int, num_classes: int, norm: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_ch) if norm == "ln" else nn.BatchNorm1d(in_ch) if norm == "bn" else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.norm(x.flatten(2).mean(2))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch


@register_block("conv_head", role="head", family="common",
                paper="MobileNetV3 / LowFormer style: 1x1 conv to a wide feature, pool, linear",
                knobs={"hidden": int_knob(1024, 8, 8192, "1x1 conv width"),
                       "act": choice_knob("hardswish", ("relu", "gelu", "silu", "hardswish"))})
class ConvHead(nn.Module):
    """1x1 conv + BN + activation to a wide feature, global pool, linear classifier."""

    def __init__(self, in_ch: int, num_classes: int, hidden: int = 1024, act: str = "hardswish") -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.act = nn.ReLU() if act == "relu" else nn.GELU() if act == "gelu" else (
            nn.SiLU() if act == "silu" else nn.Hardswish())
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.bn(self.conv(x))).mean((2, 3)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hidden: int = 1024, **_: object) -> int:
        return in_ch * hidden * h * w + hidden * out_ch
