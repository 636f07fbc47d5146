"""EfficientFormerV2 blocks (Li et al. 2023, "Rethinking Vision Transformers for MobileNet Size and Speed";
github.com/snap-research/EfficientFormer, timm port ``efficientformer_v2.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- every conv carries a bias and is followed by BN; activations are GELU; the stem is
  EfficientFormer's (``efficientformer_stem`` with GELU) and stages 2-3 open with its
  biased conv3x3/2 + BN;
- a block is x + ls * Attention2d(x) (only in the last blocks of stages 3-4), then
  x + ls * FFN(x), the FFN a 1x1 conv + BN + GELU, a depthwise 3x3 + BN + GELU, a 1x1 + BN;
  MLP ratios change per block (S1: 4,4,3,3,3,3,4,4,4 in stage 3);
- Attention2d: 8 heads of key width 32 and value width 128, q/k/v as 1x1 conv + BN, a
  depthwise 3x3 + BN on the values added to the output (local values), learned per-head
  offset biases (heads x res^2), *talking heads* (a 1x1 conv across heads before and after
  the softmax), GELU, 1x1 conv + BN back to the width; in stage 3 it attends on a map
  strided by a depthwise 3x3/2 + BN and upsamples (bilinear) back;
- stage 4 opens with an attention downsample: the strided conv plus an attention branch
  whose queries are a depthwise 3x3/2 conv plus a 2x subsampling of the input (1x1 + BN),
  keys/values from the full map (key width 16), strided local values, offset biases between
  strided queries and full-resolution keys, GELU, 1x1 + BN to the output width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, conv_macs, down, proj_macs
from hynas.blocks.efficientformer import LayerScale, OffsetBias
from hynas.space.catalog import bool_knob, choice_knob, int_knob

PAPER = ("EfficientFormerV2 (Li et al. 2023), github.com/snap-research/EfficientFormer "
         "(timm port efficientformer_v2.py)")


def effv2_conv_bn(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Biased conv + BN."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups), nn.BatchNorm2d(out_ch))


class TalkingHeadAttention(nn.Module):
    """EfficientFormerV2's Attention2d on an NCHW map, optionally on a strided copy of it."""

    def __init__(self, dim: int, key_dim: int, heads: int, attn_ratio: int, res: int, stride: int) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.scale = key_dim ** -0.5
        kh, dh = key_dim * heads, key_dim * attn_ratio * heads
        self.stride_conv = effv2_conv_bn(dim, dim, 3, stride, groups=dim) if stride > 1 else None
        self.q, self.k, self.v = effv2_conv_bn(dim, kh), effv2_conv_bn(dim, kh), effv2_conv_bn(dim, dh)
        self.v_local = effv2_conv_bn(dh, dh, 3, groups=dh)
        self.talking_head1 = nn.Conv2d(heads, heads, 1)
        self.talking_head2 = nn.Conv2d(heads, heads, 1)
        self.bias = OffsetBias(heads, res)
        self.act = nn.GELU()
        self.proj = effv2_conv_bn(dh, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if self.stride_conv is not None:
            x = self.stride_conv(x)
        hs, ws = x.shape[2], x.shape[3]
        n = hs * ws
        q = self.q(x).reshape(b, self.heads, -1, n).transpose(2, 3)
        k = self.k(x).reshape(b, self.heads, -1, n)
        v = self.v(x)
        v_local = self.v_local(v)
        v = v.reshape(b, self.heads, -1, n).transpose(2, 3)
        attn = (q @ k) * self.scale + self.bias(hs, ws)
        attn = self.talking_head2(self.talking_head1(attn).softmax(dim=-1))
        y = (attn @ v).transpose(2, 3).reshape(b, -1, hs, ws) + v_local
        if (hs, ws) != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return self.proj(self.act(y))


def talking_macs(dim: int, key_dim: int, heads: int, attn_ratio: int, stride: int, h: int, w: int) -> int:
    n, ns = h * w, down(h, stride) * down(w, stride)
    kh, dh = key_dim * heads, key_dim * attn_ratio * heads
    m = (9 * dim * ns if stride > 1 else 0) + ns * dim * (2 * kh + dh) + 9 * dh * ns
    m += 2 * heads * heads * ns * ns + ns * ns * (kh + dh)
    return m + dh * dim * n


@register_block("efficientformer_v2", role="body", family="efficientformer", paper=PAPER,
                knobs={"mlp_ratio": int_knob(4, 1, 8, "FFN expansion"),
                       "attn": bool_knob(False, "attention before the FFN"),
                       "attn_stride": choice_knob(1, (1, 2), "attend on a map strided by a depthwise 3x3/2"),
                       "key_dim": int_knob(32, 4, 128, "query/key width per head"),
                       "heads": int_knob(8, 1, 32, "attention heads"),
                       "attn_ratio": int_knob(4, 1, 8, "value width / key width"),
                       "resolution": int_knob(7, 1, 64, "side of the attention-bias table (the attended map side "
                                                        "at 224 input)")})
class EfficientFormerV2Block(nn.Module):
    """[x + ls * Attention2d(x)]; x + ls * (1x1 + BN + GELU, dw3x3 + BN + GELU, 1x1 + BN)(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, mlp_ratio: int = 4, attn: bool = False,
                 attn_stride: int = 1, key_dim: int = 32, heads: int = 8, attn_ratio: int = 4,
                 resolution: int = 7) -> None:
        super().__init__()
        c, hid = out_ch, out_ch * mlp_ratio
        self.inp = ChannelProj(in_ch, out_ch)
        self.token_mixer = TalkingHeadAttention(c, key_dim, heads, attn_ratio, resolution, attn_stride) if attn \
            else None
        self.ls1 = LayerScale(c) if attn else None
        self.mlp = nn.Sequential(effv2_conv_bn(c, hid), nn.GELU(), effv2_conv_bn(hid, hid, 3, groups=hid), nn.GELU(),
                                 effv2_conv_bn(hid, c))
        self.ls2 = LayerScale(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        if self.token_mixer is not None and self.ls1 is not None:
            x = x + self.ls1(self.token_mixer(x))
        return x + self.ls2(self.mlp(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 4, attn: bool = False,
             attn_stride: int = 1, key_dim: int = 32, heads: int = 8, attn_ratio: int = 4, **_: object) -> int:
        c, hid, n = out_ch, out_ch * mlp_ratio, h * w
        m = proj_macs(in_ch, out_ch, 1, h, w) + n * (2 * c * hid + 9 * hid)
        return m + (talking_macs(c, key_dim, heads, attn_ratio, attn_stride, h, w) if attn else 0)


@register_block("efficientformer_attn_down", role="downsample", family="efficientformer", paper=PAPER,
                knobs={"key_dim": int_knob(16, 4, 128, "query/key width per head"),
                       "heads": int_knob(8, 1, 32, "attention heads"),
                       "attn_ratio": int_knob(4, 1, 8, "value width / key width"),
                       "resolution": int_knob(14, 1, 128, "side of the attention-bias table (the input map side "
                                                          "at 224 input)")})
class AttentionDownsample(nn.Module):
    """Biased conv3x3/2 + BN plus an attention branch with strided local-global queries."""

    def __init__(self, in_ch: int, out_ch: int, key_dim: int = 16, heads: int = 8, attn_ratio: int = 4,
                 resolution: int = 14) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        kh, dh = key_dim * heads, key_dim * attn_ratio * heads
        self.conv = effv2_conv_bn(in_ch, out_ch, 3, 2)
        self.q_local = nn.Conv2d(in_ch, in_ch, 3, 2, 1, groups=in_ch)
        self.q_proj = effv2_conv_bn(in_ch, kh)
        self.k, self.v = effv2_conv_bn(in_ch, kh), effv2_conv_bn(in_ch, dh)
        self.v_local = effv2_conv_bn(dh, dh, 3, 2, groups=dh)
        self.bias = OffsetBias(heads, resolution)
        self.act = nn.GELU()
        self.proj = effv2_conv_bn(dh, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.q_proj(self.q_local(x) + x[:, :, ::2, ::2])
        h2, w2 = q.shape[2], q.shape[3]
        q = q.reshape(b, self.heads, -1, h2 * w2).transpose(2, 3)
        k = self.k(x).reshape(b, self.heads, -1, h * w).transpose(2, 3)
        v = self.v(x)
        v_local = self.v_local(v)
        v = v.reshape(b, self.heads, -1, h * w).transpose(2, 3)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias(h, w, 2).to(q.dtype))
        y = y.transpose(2, 3).reshape(b, -1, h2, w2) + v_local
        return self.conv(x) + self.proj(self.act(y))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, key_dim: int = 16, heads: int = 8,
             attn_ratio: int = 4, **_: object) -> int:
        h2, w2 = down(h, 2), down(w, 2)
        n, n2 = h * w, h2 * w2
        kh, dh = key_dim * heads, key_dim * attn_ratio * heads
        m = conv_macs(in_ch, out_ch, 3, h2, w2) + 9 * in_ch * n2 + in_ch * kh * n2 + in_ch * (kh + dh) * n
        return m + 9 * dh * n2 + n2 * n * (kh + dh) + dh * out_ch * n2
