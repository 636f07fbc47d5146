"""EfficientViT (MIT) blocks (Cai et al. 2023, "EfficientViT: Lightweight Multi-Scale Attention for
High-Resolution Dense Prediction"; github.com/mit-han-lab/efficientvit, timm port ``efficientvit_mit.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- activations are hardswish; the stem is a bias-free conv3x3/2 + BN + hardswish and then
  residual DSConvs (depthwise 3x3 + BN + hardswish, 1x1 + BN);
- stages 1-2 are MobileNetV2 inverted residuals (expansion 4 of the input width, all convs
  bias-free + BN) and stages 3-4 open with one whose expand and depthwise convs carry a bias
  and no BN (``mnv2`` with ``norm: last``); no shortcut on the striding block;
- an EfficientViT block is x + LiteMLA(x), then x + MBConv(x) (biased expand and depthwise
  convs, BN only after the projection);
- LiteMLA: heads = width / head width (16 in B1); a bias-free 1x1 conv to q/k/v, plus a
  multi-scale copy (depthwise 5x5, then a 1x1 grouped by 3 x heads, both bias-free);
  ReLU linear attention on every head of both: out = q (k^T [v, 1]) normalised by its last
  column; a bias-free 1x1 conv + BN from the concatenated heads back to the width;
- the head is LowFormer's (1x1 conv + BN + hardswish to 1536, pool, linear to 1600 without
  bias + LayerNorm + hardswish, linear): ``lowformer_head``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, conv_macs, down, proj_macs
from hynas.space.catalog import choice_knob, int_knob

PAPER = "EfficientViT (Cai et al. 2023), github.com/mit-han-lab/efficientvit (timm port efficientvit_mit.py)"
EPS = 1e-5


class DSConv(nn.Module):
    """Residual depthwise 3x3 + BN + hardswish, 1x1 + BN."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.depth_conv = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False), nn.BatchNorm2d(ch),
                                        nn.Hardswish())
        self.point_conv = nn.Sequential(nn.Conv2d(ch, ch, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.point_conv(self.depth_conv(x))


@register_block("efficientvit_stem", role="stem", family="efficientvit", paper=PAPER,
                knobs={"layers": int_knob(1, 0, 4, "residual DSConvs after the strided conv")})
class EfficientViTStem(nn.Module):
    """conv3x3/2 + BN + hardswish, then residual DSConvs."""

    def __init__(self, in_ch: int, out_ch: int, layers: int = 1) -> None:
        super().__init__()
        self.in_conv = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 2, 1, bias=False), nn.BatchNorm2d(out_ch),
                                     nn.Hardswish())
        self.blocks = nn.Sequential(*[DSConv(out_ch) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.in_conv(x))

    @staticmethod
    def reduction(**_: object) -> int:
        return 2

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, layers: int = 1, **_: object) -> int:
        n = down(h, 2) * down(w, 2)
        return conv_macs(in_ch, out_ch, 3, down(h, 2), down(w, 2)) + layers * n * (9 * out_ch + out_ch * out_ch)


class LiteMLA(nn.Module):
    """ReLU linear attention over the map, on q/k/v and on a multi-scale (depthwise kxk) copy of them."""

    def __init__(self, dim: int, head_dim: int, scale: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        heads = max(1, dim // head_dim)
        total = heads * head_dim
        self.qkv = nn.Conv2d(dim, 3 * total, 1, bias=False)
        self.aggreg = nn.Sequential(
            nn.Conv2d(3 * total, 3 * total, scale, 1, scale // 2, groups=3 * total, bias=False),
            nn.Conv2d(3 * total, 3 * total, 1, groups=3 * heads, bias=False))
        self.proj = nn.Sequential(nn.Conv2d(2 * total, dim, 1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        qkv = self.qkv(x)
        qkv = torch.cat([qkv, self.aggreg(qkv)], dim=1)
        qkv = qkv.reshape(b, -1, 3 * self.head_dim, h * w).transpose(-1, -2)
        q, k, v = qkv.chunk(3, dim=-1)
        q, k = F.relu(q), F.relu(k)
        v = F.pad(v, (0, 1), mode="constant", value=1.0)
        out = q @ (k.transpose(-1, -2) @ v)
        out = out[..., :-1] / (out[..., -1:] + EPS)
        return self.proj(out.transpose(-1, -2).reshape(b, -1, h, w))


def lite_mla_macs(dim: int, head_dim: int, scale: int, n: int) -> int:
    heads = max(1, dim // head_dim)
    total = heads * head_dim
    m = n * dim * 3 * total + n * 3 * total * (scale * scale + head_dim)
    return m + 2 * (2 * heads) * n * head_dim * (head_dim + 1) + n * 2 * total * dim


class EfficientViTMBConv(nn.Module):
    """1x1 (bias) + hardswish, depthwise 3x3 (bias) + hardswish, 1x1 + BN."""

    def __init__(self, ch: int, expansion: int) -> None:
        super().__init__()
        mid = ch * expansion
        self.inverted_conv = nn.Sequential(nn.Conv2d(ch, mid, 1), nn.Hardswish())
        self.depth_conv = nn.Sequential(nn.Conv2d(mid, mid, 3, 1, 1, groups=mid), nn.Hardswish())
        self.point_conv = nn.Sequential(nn.Conv2d(mid, ch, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(self.inverted_conv(x)))


@register_block("efficientvit", role="body", family="efficientvit", attention=True, paper=PAPER,
                knobs={"head_dim": int_knob(16, 4, 128, "linear-attention head width"),
                       "scale": choice_knob(5, (3, 5, 7), "kernel of the multi-scale aggregation"),
                       "expansion": int_knob(4, 1, 8, "MBConv expansion")})
class EfficientViTBlock(nn.Module):
    """x + LiteMLA(x); x + MBConv(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 16, scale: int = 5,
                 expansion: int = 4) -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch)
        self.context = LiteMLA(out_ch, head_dim, scale)
        self.local = EfficientViTMBConv(out_ch, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = x + self.context(x)
        return x + self.local(x)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 16, scale: int = 5,
             expansion: int = 4, **_: object) -> int:
        n, mid = h * w, out_ch * expansion
        return (proj_macs(in_ch, out_ch, 1, h, w) + lite_mla_macs(out_ch, head_dim, scale, n)
                + n * (2 * out_ch * mid + 9 * mid))
