"""MetaFormer baselines (Yu et al. 2022, "MetaFormer Baselines for Vision"; sail-sg/metaformer).

One block type per token mixer (``metaformer_sepconv``, ``metaformer_attention``,
``metaformer_pool``) sharing one MetaFormer block, so a space chooses the mixer per stage
and layout rules see which stages attend: ConvFormer is SepConv everywhere, CAFormer
SepConv in stages 1-2 and attention in 3-4. Facts taken from the
official ``metaformer_baselines.py``: norms are LayerNorm *without bias* (eps 1e-6); the
MLP and the SepConv linears have no bias, attention has no qkv/proj bias and 32-wide
heads; StarReLU carries two learnable scalars; the stem is a 7x7 stride-4 conv followed
by a norm, the later downsamples a norm followed by a 3x3 stride-2 conv; the classifier
is an MLP head (ratio 4, squared ReLU, LayerNorm) after a biased output LayerNorm.

Blocks work channels-last inside (linears on the channel axis, as the official code
does) and take/return NCHW maps like every hynas block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, StarReLU, fused_mhsa, heads_for, proj_macs
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob

PAPER = "MetaFormer Baselines for Vision (Yu et al. 2022), github.com/sail-sg/metaformer"
NORM_EPS = 1e-6


class Scale(nn.Module):
    """Learnable per-channel scale (layer-scale / res-scale) on a channels-last tensor."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class SepConvMixer(nn.Module):
    """Inverted separable conv (MobileNetV2-style): linear expand, StarReLU, depthwise kxk, linear."""

    def __init__(self, dim: int, expansion: int = 2, kernel: int = 7) -> None:
        super().__init__()
        mid = int(expansion * dim)
        self.pwconv1 = nn.Linear(dim, mid, bias=False)
        self.act = StarReLU(1.0, 0.0)
        self.dwconv = nn.Conv2d(mid, mid, kernel, 1, kernel // 2, groups=mid, bias=False)
        self.pwconv2 = nn.Linear(mid, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.pwconv1(x))
        x = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.pwconv2(x)


class MetaAttention(nn.Module):
    """Global self-attention on a channels-last map, no qkv or projection bias (as MetaFormer)."""

    def __init__(self, dim: int, head_dim: int = 32) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = head_dim
        self.qkv = nn.Linear(dim, 3 * self.heads * head_dim, bias=False)
        self.proj = nn.Linear(self.heads * head_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        return fused_mhsa(x.reshape(b, h * w, c), self.qkv, self.proj, self.heads, self.head_dim).reshape(b, h, w, -1)


class PoolMixer(nn.Module):
    """PoolFormer's mixer: 3x3 average pool minus the input."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) - x


class MetaFormerBlock(nn.Module):
    """Pre-norm MetaFormer block: x = rs*x + ls*mixer(norm(x)); x = rs*x + ls*mlp(norm(x)).

    Subclasses only choose the token mixer; the rest (bias-free norms and StarReLU MLP,
    optional layer-scale and res-scale vectors) is the official block's.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, mixer: nn.Module, mlp_ratio: int,
                 layer_scale: bool, res_scale: bool) -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm1 = nn.LayerNorm(c, eps=NORM_EPS, bias=False)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(c, eps=NORM_EPS, bias=False)
        self.fc1 = nn.Linear(c, int(mlp_ratio * c), bias=False)
        self.act = StarReLU(1.0, 0.0)
        self.fc2 = nn.Linear(int(mlp_ratio * c), c, bias=False)
        self.ls1 = Scale(c, 1e-6) if layer_scale else nn.Identity()
        self.ls2 = Scale(c, 1e-6) if layer_scale else nn.Identity()
        self.rs1 = Scale(c, 1.0) if res_scale else nn.Identity()
        self.rs2 = Scale(c, 1.0) if res_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x).permute(0, 2, 3, 1)
        x = self.rs1(x) + self.ls1(self.mixer(self.norm1(x)))
        x = self.rs2(x) + self.ls2(self.fc2(self.act(self.fc1(self.norm2(x)))))
        return x.permute(0, 3, 1, 2)


def block_macs(in_ch: int, out_ch: int, h: int, w: int, mixer_macs: int, mlp_ratio: int) -> int:
    """Shortcut projection + mixer + MLP MACs of one MetaFormer block."""
    return proj_macs(in_ch, out_ch, 1, h, w) + mixer_macs + 2 * h * w * out_ch * int(mlp_ratio * out_ch)


SCALE_KNOBS = {"mlp_ratio": int_knob(4, 1, 8),
               "layer_scale": bool_knob(False, "per-channel scale on each branch (init 1e-6)"),
               "res_scale": bool_knob(False, "per-channel scale on each shortcut (init 1; official in stages 3-4)")}


@register_block("metaformer_sepconv", role="body", family="metaformer", paper=PAPER,
                knobs={"expansion": int_knob(2, 1, 4, "SepConv expansion"),
                       "kernel": choice_knob(7, (3, 5, 7), "depthwise kernel"), **SCALE_KNOBS})
class ConvFormerBlock(MetaFormerBlock):
    """MetaFormer block with the SepConv mixer (ConvFormer everywhere, CAFormer stages 1-2)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 2, kernel: int = 7,
                 mlp_ratio: int = 4, layer_scale: bool = False, res_scale: bool = False) -> None:
        super().__init__(in_ch, out_ch, stride, SepConvMixer(out_ch, expansion, kernel), mlp_ratio, layer_scale,
                         res_scale)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 2, kernel: int = 7,
             mlp_ratio: int = 4, **_: object) -> int:
        mid = int(expansion * out_ch)
        return block_macs(in_ch, out_ch, h, w, h * w * (2 * out_ch * mid + kernel * kernel * mid), mlp_ratio)


@register_block("metaformer_attention", role="body", family="metaformer", attention=True, paper=PAPER,
                knobs={"head_dim": choice_knob(32, (16, 32, 64), "attention head width"), **SCALE_KNOBS})
class CAFormerAttnBlock(MetaFormerBlock):
    """MetaFormer block with global bias-free self-attention (CAFormer stages 3-4)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 layer_scale: bool = False, res_scale: bool = False) -> None:
        super().__init__(in_ch, out_ch, stride, MetaAttention(out_ch, head_dim), mlp_ratio, layer_scale, res_scale)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 4,
             **_: object) -> int:
        n, inner = h * w, heads_for(out_ch, head_dim) * head_dim
        return block_macs(in_ch, out_ch, h, w, n * out_ch * 4 * inner + 2 * n * n * inner, mlp_ratio)


@register_block("metaformer_pool", role="body", family="metaformer", paper=PAPER, knobs=dict(SCALE_KNOBS))
class PoolFormerBlock(MetaFormerBlock):
    """MetaFormer block with PoolFormer's parameter-free pooling mixer."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, mlp_ratio: int = 4, layer_scale: bool = False,
                 res_scale: bool = False) -> None:
        super().__init__(in_ch, out_ch, stride, PoolMixer(), mlp_ratio, layer_scale, res_scale)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 4, **_: object) -> int:
        return block_macs(in_ch, out_ch, h, w, 0, mlp_ratio)


@register_block("metaformer_stem", role="stem", family="metaformer", paper=PAPER,
                knobs={"kernel": choice_knob(7, (4, 7), "7: overlapping 7x7 pad 2 (official); 4: patchify")})
class MetaFormerStem(nn.Module):
    """Stride-4 conv (with bias) then LayerNorm without bias: MetaFormer's first downsampling."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, 4, (kernel - 4 + 1) // 2)
        self.norm = nn.LayerNorm(out_ch, eps=NORM_EPS, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, **_: object) -> int:
        return kernel * kernel * in_ch * out_ch * (h // 4) * (w // 4)

    @staticmethod
    def check_map(h: int, w: int, stride: int, **_: object) -> str | None:
        return None if h % 4 == 0 and w % 4 == 0 else f"the stride-4 stem needs a map divisible by 4, got {h}x{w}"


@register_block("metaformer_down", role="downsample", family="metaformer", paper=PAPER, knobs={})
class MetaFormerDown(nn.Module):
    """LayerNorm without bias, then a 3x3 stride-2 conv with bias (MetaFormer stages 2-4)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_ch, eps=NORM_EPS, bias=False)
        self.conv = nn.Conv2d(in_ch, out_ch, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return 9 * in_ch * out_ch * ((h + 1) // 2) * ((w + 1) // 2)


class SquaredReLU(nn.Module):
    """relu(x)^2 (So et al. 2021), the MLP head's activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.square(F.relu(x))


@register_block("mlp_head", role="head", family="metaformer", paper=PAPER,
                knobs={"mlp_ratio": int_knob(4, 1, 8, "hidden width / input width"),
                       "dropout": float_knob(0.0, 0.0, 0.9)})
class MlpHead(nn.Module):
    """Global mean, LayerNorm, then Linear -> squared ReLU -> LayerNorm -> Linear (~3.1M params at 512)."""

    def __init__(self, in_ch: int, num_classes: int, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(mlp_ratio * in_ch)
        self.norm = nn.LayerNorm(in_ch, eps=NORM_EPS)
        self.fc1 = nn.Linear(in_ch, hidden)
        self.act = SquaredReLU()
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x.mean((2, 3)))
        return self.fc2(self.drop(self.norm2(self.act(self.fc1(x)))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 4, **_: object) -> int:
        return int(mlp_ratio * in_ch) * (in_ch + out_ch)
