"""LowFormer (Nottebaum et al. 2025, WACV, "LowFormer: Hardware Efficient Design for
Convolutional Transformer Backbones"; github.com/altair199797/LowFormer).

The LowFormer block is three residual steps: *lowtention* (GroupNorm, then a depthwise
conv that may stride, a 1x1 conv to q/k/v at half the width, softmax attention on the
small map, and a transposed conv back to the full map and width), a GELU MLP after a
GroupNorm, and a local conv branch that is a FusedMBConv below 256 channels and an MBConv
from 256 on. Facts from the official ``lowformer/models/nn/ops.py`` and the printed B0
model (``model_prints/b0.txt``): heads = (width/2) // 30, head width = (width/heads)/2
above 80 channels; the attention strides 2 with a 5x5 kernel in stage 3 and keeps the map
with a 3x3 kernel in stage 4; the transposed conv has a bias; the MLP ratio is 4; the local
FusedMBConv has a biased 3x3 conv + BN + hardswish, the local MBConv biased 1x1 and
depthwise convs with hardswish and no BN; the stride-2 FusedMBConvs that open each stage
have no bias and no shortcut; the head is 1x1 conv + BN + hardswish, pool, bias-free
linear + LayerNorm + hardswish, linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, down, proj_macs
from hynas.space.catalog import choice_knob, int_knob

PAPER = ("LowFormer (Nottebaum, Dunnhofer & Micheloni, WACV 2025), github.com/altair199797/LowFormer")
LOCAL_SWITCH_CH = 256


class FusedConv(nn.Module):
    """kxk conv (+BN) + hardswish, then 1x1 conv + BN: LowFormer's FusedMBConv body (no shortcut)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, bias: bool) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.spatial = nn.Conv2d(in_ch, mid, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act = nn.Hardswish()
        self.point = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.point(self.act(self.bn1(self.spatial(x)))))


class LightMBConv(nn.Module):
    """MBConv with biased 1x1 and depthwise convs, hardswish, and BN only after the projection."""

    def __init__(self, ch: int, expansion: int) -> None:
        super().__init__()
        mid = ch * expansion
        self.expand = nn.Conv2d(ch, mid, 1)
        self.dw = nn.Conv2d(mid, mid, 3, 1, 1, groups=mid)
        self.act = nn.Hardswish()
        self.point = nn.Conv2d(mid, ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.point(self.act(self.dw(self.act(self.expand(x))))))


@register_block("lowformer_fused", role="body", family="lowformer", can_stride=True, paper=PAPER,
                knobs={"expansion": int_knob(4, 1, 8, "hidden width / input width")})
class LowFormerFused(nn.Module):
    """FusedMBConv as LowFormer's conv stages use it: bias-free, hardswish, shortcut only when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4) -> None:
        super().__init__()
        self.body = FusedConv(in_ch, out_ch, stride, expansion, False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, **_: object) -> int:
        mid = in_ch * expansion
        return (9 * in_ch * mid + mid * out_ch) * down(h, stride) * down(w, stride)


def lowtention_heads(dim: int) -> tuple[int, int]:
    """(heads, head width) of LowFormer's attention: half-width heads of ~30 channels above 80 channels."""
    mul = 0.5 if dim > 80 else 1.0
    heads = int(max(1, (dim * mul) // 30))
    return heads, int((dim // heads) * mul)


class Lowtention(nn.Module):
    """Depthwise (strided) conv + BN, 1x1 to q/k/v, softmax attention, transposed conv back up."""

    def __init__(self, dim: int, stride: int, kernel: int) -> None:
        super().__init__()
        self.heads, self.head_dim = lowtention_heads(dim)
        inner = self.heads * self.head_dim
        self.dw = nn.Conv2d(dim, dim, kernel, stride, kernel // 2, groups=dim, bias=False)
        self.bn = nn.BatchNorm2d(dim)
        self.qkv = nn.Conv2d(dim, 3 * inner, 1, bias=False)
        self.up = nn.ConvTranspose2d(inner, dim, 2 * stride if stride > 1 else 3, stride, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.qkv(self.bn(self.dw(x)))
        hh, ww = t.shape[2], t.shape[3]
        t = t.reshape(b, self.heads, 3 * self.head_dim, hh * ww).transpose(2, 3)
        q, k, v = t.chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v).transpose(2, 3).reshape(b, -1, hh, ww)
        return self.up(y)[:, :, :h, :w]


@register_block("lowformer", role="body", family="lowformer", attention=True, paper=PAPER,
                knobs={"att_stride": choice_knob(2, (1, 2), "stride of the attention's depthwise conv"),
                       "att_kernel": choice_knob(5, (3, 5), "kernel of the attention's depthwise conv"),
                       "mlp_ratio": int_knob(4, 1, 8), "expansion": int_knob(4, 1, 8, "local branch expansion"),
                       "local": choice_knob("auto", ("auto", "fused", "mbconv"),
                                            "local branch; auto = FusedMBConv below 256 channels, else MBConv")})
class LowFormerBlock(nn.Module):
    """x += lowtention(GN(x)); x += MLP(GN(x)); x += local conv(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, att_stride: int = 2, att_kernel: int = 5,
                 mlp_ratio: int = 4, expansion: int = 4, local: str = "auto") -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm1 = nn.GroupNorm(1, c)
        self.attn = Lowtention(c, att_stride, att_kernel)
        self.norm2 = nn.GroupNorm(1, c)
        self.fc1 = nn.Conv2d(c, c * mlp_ratio, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(c * mlp_ratio, c, 1)
        fused = local == "fused" or (local == "auto" and c < LOCAL_SWITCH_CH)
        self.local = FusedConv(c, c, 1, expansion, True) if fused else LightMBConv(c, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return x + self.local(x)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, att_stride: int = 2, att_kernel: int = 5,
             mlp_ratio: int = 4, expansion: int = 4, local: str = "auto", **_: object) -> int:
        c, n = out_ch, h * w
        heads, hd = lowtention_heads(c)
        inner = heads * hd
        n2 = down(h, att_stride) * down(w, att_stride)
        up_k = 2 * att_stride if att_stride > 1 else 3
        attn = n2 * (att_kernel * att_kernel * c + 3 * c * inner + up_k * up_k * inner * c) + 2 * n2 * n2 * inner
        mid = c * expansion
        fused = local == "fused" or (local == "auto" and c < LOCAL_SWITCH_CH)
        loc = n * (9 * c * mid + mid * c) if fused else n * (2 * c * mid + 9 * mid)
        return proj_macs(in_ch, out_ch, stride, h, w) + attn + 2 * n * c * c * mlp_ratio + loc


@register_block("lowformer_head", role="head", family="lowformer", paper=PAPER,
                knobs={"hidden": int_knob(1536, 8, 8192, "1x1 conv width"),
                       "hidden2": int_knob(1600, 8, 8192, "hidden linear width")})
class LowFormerHead(nn.Module):
    """1x1 conv + BN + hardswish, global pool, linear (no bias) + LayerNorm + hardswish, linear."""

    def __init__(self, in_ch: int, num_classes: int, hidden: int = 1536, hidden2: int = 1600) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.fc1 = nn.Linear(hidden, hidden2, bias=False)
        self.norm = nn.LayerNorm(hidden2)
        self.fc2 = nn.Linear(hidden2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x))).mean((2, 3))
        return self.fc2(self.act(self.norm(self.fc1(x))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hidden: int = 1536, hidden2: int = 1600,
             **_: object) -> int:
        return in_ch * hidden * h * w + hidden * hidden2 + hidden2 * out_ch
