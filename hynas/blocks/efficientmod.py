"""EfficientMod (Ma et al. 2024, "Efficient Modulation for Vision Networks"; ma-xu/EfficientMod).

The efficient modulation block fuses an MLP with a convolutional context branch: the
MLP's expanded features are multiplied by a context map (linear -> depthwise 7x7 ->
GELU -> linear) tiled ``mlp_ratio`` times across the channels, so the conv runs at the
block's width while the product is taken at the expanded width. Facts from the official
``models/EfficientMod.py``: the context width is hidden / conv_group_dim with
conv_group_dim equal to the block's MLP ratio (so the context is as wide as the block),
ratio-1 blocks skip the MLP activation, all linears and the depthwise conv have biases,
norms are LayerNorm with bias, the block output is layer-scaled (init 1e-4); the vanilla
attention blocks appended to stages 3-4 use 8 heads of width max(dim/8, 32), no qkv bias,
no layer scale; the stem is a 7x7 stride-4 conv + LayerNorm, downsamples 3x3 stride-2
conv + LayerNorm, the head LayerNorm -> average pool -> linear.
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, down, fused_mhsa, proj_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

PAPER = "EfficientMod (Ma et al. 2024, Efficient Modulation for Vision Networks), github.com/ma-xu/EfficientMod"
MIN_HEAD_DIM = 32


@register_block("effmod", role="body", family="efficientmod", paper=PAPER,
                knobs={"mlp_ratio": int_knob(6, 1, 8, "MLP expansion, also the context tiling factor"),
                       "kernel": choice_knob(7, (3, 5, 7), "context depthwise kernel"),
                       "layer_scale": bool_knob(True, "per-channel output scale (init 1e-4)")})
class EfficientModBlock(nn.Module):
    """Pre-norm efficient modulation: x + ls * fc2(act(fc1(y)) * tile(context(y))), y = norm(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, mlp_ratio: int = 6, kernel: int = 7,
                 layer_scale: bool = True) -> None:
        super().__init__()
        c, self.ratio = out_ch, mlp_ratio
        hidden = c * mlp_ratio
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, hidden)
        self.act = nn.GELU() if mlp_ratio != 1 else nn.Identity()
        self.ctx_f = nn.Linear(c, c)
        self.ctx_dw = nn.Conv2d(c, c, kernel, 1, kernel // 2, groups=c)
        self.ctx_act = nn.GELU()
        self.ctx_g = nn.Linear(c, c)
        self.fc2 = nn.Linear(hidden, c)
        self.gamma = nn.Parameter(torch.full((c,), 1e-4)) if layer_scale else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x).permute(0, 2, 3, 1)
        y = self.norm(x)
        ctx = self.ctx_dw(self.ctx_f(y).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        ctx = self.ctx_g(self.ctx_act(ctx))
        out = self.fc2(self.act(self.fc1(y)) * ctx.repeat(1, 1, 1, self.ratio))
        x = x + (out * self.gamma if self.gamma is not None else out)
        return x.permute(0, 3, 1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 6, kernel: int = 7,
             **_: object) -> int:
        n, c = h * w, out_ch
        return proj_macs(in_ch, out_ch, stride, h, w) + n * (2 * c * c * mlp_ratio + 2 * c * c + kernel * kernel * c)


def effmod_head_dim(dim: int, heads: int) -> int:
    """EfficientMod's attention head width: dim / heads, but never below 32."""
    return max(dim // heads, MIN_HEAD_DIM)


@register_block("effmod_attn", role="body", family="efficientmod", attention=True, paper=PAPER,
                knobs={"heads": choice_knob(8, (4, 8)), "mlp_ratio": int_knob(4, 1, 8)})
class EfficientModAttnBlock(nn.Module):
    """Vanilla pre-norm transformer block as appended to EfficientMod stages 3-4 (heads at least 32 wide)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, heads: int = 8, mlp_ratio: int = 4) -> None:
        super().__init__()
        c = out_ch
        self.heads, self.head_dim = heads, effmod_head_dim(c, heads)
        inner = heads * self.head_dim
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm1 = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * inner, bias=False)
        self.proj = nn.Linear(inner, c)
        self.norm2 = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, c * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(c * mlp_ratio, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + fused_mhsa(self.norm1(t), self.qkv, self.proj, self.heads, self.head_dim)
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2).reshape(b, c, h, w)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, heads: int = 8, mlp_ratio: int = 4,
             **_: object) -> int:
        n, c = h * w, out_ch
        inner = heads * effmod_head_dim(c, heads)
        attn = n * c * 4 * inner + 2 * n * n * inner
        return proj_macs(in_ch, out_ch, stride, h, w) + attn + 2 * n * c * c * mlp_ratio


class ConvLN(nn.Module):
    """Conv (with bias) followed by a channel LayerNorm with bias: EfficientMod's PatchEmbed."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2)
        self.norm = nn.LayerNorm(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@register_block("effmod_stem", role="stem", family="efficientmod", paper=PAPER,
                knobs={"kernel": choice_knob(7, (3, 5, 7), "stride-4 conv kernel (padded)")})
class EfficientModStem(ConvLN):
    """7x7 stride-4 padded conv + LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 7) -> None:
        super().__init__(in_ch, out_ch, kernel, 4)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, **_: object) -> int:
        return kernel * kernel * in_ch * out_ch * down(h, 4) * down(w, 4)


@register_block("effmod_down", role="downsample", family="efficientmod", paper=PAPER, knobs={})
class EfficientModDown(ConvLN):
    """3x3 stride-2 conv + LayerNorm between stages."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(in_ch, out_ch, 3, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return 9 * in_ch * out_ch * down(h, 2) * down(w, 2)


@register_block("norm_pool_linear", role="head", family="efficientmod", paper=PAPER, knobs={})
class NormPoolLinearHead(nn.Module):
    """LayerNorm on every position, global average pool, linear classifier (EfficientMod, Swin)."""

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_ch)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x.permute(0, 2, 3, 1)).mean((1, 2)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch
