"""Convolutional blocks: stems, downsamples, MBConv, FusedMBConv, ConvNeXt."""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import (
    ACT_KNOB,
    ChannelProj,
    ConvBN,
    LayerNorm2d,
    SqueezeExcite,
    conv_macs,
    down,
    make_act,
    proj_macs,
)
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob


@register_block("conv_stem", role="stem", family="conv", paper="common practice (e.g. MobileNet, Next-ViT)",
                knobs={"kernel": choice_knob(3, (3, 5, 7)), "reduction": choice_knob(2, (1, 2, 4), "total stride"),
                       "layers": int_knob(1, 1, 4, "number of conv+BN+act layers"), "act": ACT_KNOB})
class ConvStem(nn.Module):
    """A stack of conv+BN+act layers; the first strides (reduction 4 = two stride-2 convs)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, reduction: int = 2, layers: int = 1,
                 act: str = "gelu") -> None:
        super().__init__()
        strides = [2, 2] if reduction == 4 else [reduction]
        strides += [1] * max(0, layers - len(strides))
        mods, c = [], in_ch
        for s in strides:
            mods.append(ConvBN(c, out_ch, kernel, s, act=act))
            c = out_ch
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(reduction: int = 2, **_: object) -> int:
        return reduction

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, reduction: int = 2,
             layers: int = 1, **_: object) -> int:
        strides = [2, 2] if reduction == 4 else [reduction]
        strides += [1] * max(0, layers - len(strides))
        total, c = 0, in_ch
        for st in strides:
            h, w = down(h, st), down(w, st)
            total += conv_macs(c, out_ch, kernel, h, w)
            c = out_ch
        return total


@register_block("patch_stem", role="stem", family="vit", paper="ViT (Dosovitskiy et al. 2021) patch embedding",
                knobs={"patch": choice_knob(4, (2, 4, 8, 16)), "norm": bool_knob(True)})
class PatchStem(nn.Module):
    """Non-overlapping patchify conv (kernel = stride = patch), optional LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, patch: int = 4, norm: bool = True) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, patch, patch)
        self.norm = LayerNorm2d(out_ch) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    @staticmethod
    def reduction(patch: int = 4, **_: object) -> int:
        return patch

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, patch: int = 4, **_: object) -> int:
        return conv_macs(in_ch, out_ch, patch, h // patch, w // patch)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, patch: int = 4, **_: object) -> str | None:
        return None if h % patch == 0 and w % patch == 0 else f"patch {patch} does not divide the {h}x{w} input"


@register_block("conv_down", role="downsample", family="conv", paper="common practice (strided 3x3 conv + BN)",
                knobs={"kernel": choice_knob(3, (2, 3)), "norm": choice_knob("bn", ("bn", "ln"))})
class ConvDown(nn.Module):
    """Strided conv (3x3 padded, or 2x2 patch-merging) followed by a norm; halves the map."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, norm: str = "bn") -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, 2, kernel // 2 if kernel == 3 else 0, bias=False)
        self.norm = nn.BatchNorm2d(out_ch) if norm == "bn" else LayerNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, **_: object) -> int:
        return conv_macs(in_ch, out_ch, kernel, h // 2, w // 2)


@register_block("pool_conv", role="downsample", family="nextvit",
                paper="Next-ViT (Li et al. 2022) patch embedding: avg-pool 2x2 + 1x1 conv + BN", knobs={})
class PoolConvDown(nn.Module):
    """2x2 average pool, then 1x1 conv + BN (Next-ViT's PatchEmbed)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.pool(x)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch * down(h, 2) * down(w, 2)


@register_block("mbconv", role="body", family="conv", can_stride=True,
                paper="MobileNetV2 (Sandler et al. 2018), EfficientNet (Tan & Le 2019)",
                knobs={"expansion": int_knob(4, 1, 8), "kernel": choice_knob(3, (3, 5, 7)), "se": bool_knob(False),
                       "se_ratio": float_knob(0.25, 0.0625, 0.5), "act": ACT_KNOB})
class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, optional squeeze-excite, 1x1 project."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 se: bool = False, se_ratio: float = 0.25, act: str = "gelu") -> None:
        super().__init__()
        hid = in_ch * expansion
        self.expand = ConvBN(in_ch, hid, 1, act=act)
        self.dw = ConvBN(hid, hid, kernel, stride, groups=hid, act=act)
        self.se = SqueezeExcite(hid, max(1, int(in_ch * se_ratio))) if se else nn.Identity()
        self.project = ConvBN(hid, out_ch, 1, act=None)
        self.shortcut = ChannelProj(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.project(self.se(self.dw(self.expand(x))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, kernel: int = 3,
             se: bool = False, se_ratio: float = 0.25, **_: object) -> int:
        hid = in_ch * expansion
        ho, wo = down(h, stride), down(w, stride)
        m = hid * in_ch * h * w + kernel * kernel * hid * ho * wo + hid * out_ch * ho * wo
        if se:
            m += 2 * hid * max(1, int(in_ch * se_ratio))
        return m + proj_macs(in_ch, out_ch, stride, h, w)


@register_block("fused_mbconv", role="body", family="conv", can_stride=True,
                paper="EfficientNetV2 (Tan & Le 2021)",
                knobs={"expansion": int_knob(4, 1, 8), "kernel": choice_knob(3, (3, 5)), "act": ACT_KNOB})
class FusedMBConv(nn.Module):
    """Fused inverted residual: full kxk expand conv, then 1x1 project."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 act: str = "gelu") -> None:
        super().__init__()
        hid = in_ch * expansion
        self.fused = ConvBN(in_ch, hid, kernel, stride, act=act)
        self.project = ConvBN(hid, out_ch, 1, act=None)
        self.shortcut = ChannelProj(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.project(self.fused(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, kernel: int = 3,
             **_: object) -> int:
        hid = in_ch * expansion
        ho, wo = down(h, stride), down(w, stride)
        return (kernel * kernel * in_ch * hid + hid * out_ch) * ho * wo + proj_macs(in_ch, out_ch, stride, h, w)


@register_block("convnext", role="body", family="conv", can_stride=True, paper="ConvNeXt (Liu et al. 2022)",
                knobs={"kernel": choice_knob(7, (3, 5, 7)), "mlp_ratio": int_knob(4, 1, 8),
                       "layer_scale": bool_knob(True), "act": ACT_KNOB})
class ConvNeXtBlock(nn.Module):
    """Depthwise kxk conv, LayerNorm, pointwise MLP, optional layer scale, residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel: int = 7, mlp_ratio: int = 4,
                 layer_scale: bool = True, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.dw = nn.Conv2d(out_ch, out_ch, kernel, 1, kernel // 2, groups=out_ch)
        self.norm = LayerNorm2d(out_ch)
        self.fc1 = nn.Conv2d(out_ch, out_ch * mlp_ratio, 1)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(out_ch * mlp_ratio, out_ch, 1)
        self.gamma = nn.Parameter(torch.full((1, out_ch, 1, 1), 1e-6)) if layer_scale else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        y = self.fc2(self.act(self.fc1(self.norm(self.dw(x)))))
        return x + (y * self.gamma if self.gamma is not None else y)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, mlp_ratio: int = 4,
             **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        return proj_macs(in_ch, out_ch, stride, h, w) + (kernel * kernel * out_ch + 2 * out_ch * out_ch * mlp_ratio) * n
