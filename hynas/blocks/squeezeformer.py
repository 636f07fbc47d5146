"""Squeezeformer (Kim et al., NeurIPS 2022, "Squeezeformer: An Efficient Transformer for Automatic
Speech Recognition"; official code kssteven418/Squeezeformer @ab49eec, ``src/models/conformer_encoder.py``,
``submodules/{multihead_attention,positional_encoding,subsampling,time_reduction}.py``).

Facts carried over from the official code (XS config ``examples/squeezeformer/configs/squeezeformer-XS.yml``):

- a block is ``MHSA, FFN, conv, FFN`` (fixed_arch ``M s C s``): every sub-module adds its output to its
  input, then a LayerNorm follows (post-LN; ``no_post_ln`` drops only the block-level extra LN). With
  ``adaptive_scale`` the pre-LN of each sub-module is replaced by a learned per-channel scale (init 1)
  and bias (init 0) of its input: the "scaled residual" of the paper. The FFN residual factor is 1.0.
- MHSA is Transformer-XL relative-position attention: q, k, v linears with bias, a bias-free position
  projection of NeMo's sinusoid over the 2L-1 relative distances (sin on even channels, cos on odd),
  learned ``pos_bias_u`` / ``pos_bias_v`` (init 0), ``relative_shift``, logits / sqrt(head size), output
  linear with bias. Position encodings are recomputed at each length (after time reduction too), so a
  block computing them from its own length is exactly what the official encoder does.
- conv module: pointwise conv to 2x width (with bias), swish (GLU off in every released config), depthwise
  conv k31 (with bias, 'same'), BatchNorm, swish, pointwise conv back (with bias).
- FFN: linear 4x (bias), swish, linear back (bias).
- subsampling: conv2d 3x3/2 (1 -> 144, bias) + ReLU, then depthwise 3x3/2 + pointwise (both with bias)
  + ReLU over (time, 80 mel bins), padded by one at the end of both axes; frequency 80 -> 40 -> 20 is
  flattened with the channels (20 x 144) into a linear to d_model, scaled by sqrt(d_model), pre-LN.
- time reduction (before block 7 of 16): depthwise conv k5 stride 2 (bias, input right-padded by 3)
  + pointwise conv (bias); time recovery (before block 15): repeat every frame twice, a dense layer
  (bias), plus the activation saved before the reduction (the U-Net skip, merged by sum).

Dropout is left out (inference form).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, heads_for
from hynas.blocks.seq1d import conv1d_macs, proj1d_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

SQZ_PAPER = ("Squeezeformer (Kim et al., NeurIPS 2022); official kssteven418/Squeezeformer @ab49eec "
             "src/models/conformer_encoder.py")
SEQ = (1,)


def rel_sinusoid(n: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """NeMo's sinusoid at relative distances n-1 .. -(n-1): (2n-1, dim), sin on even channels, cos on odd."""
    pos = torch.arange(n - 1, -n, -1, dtype=like.dtype, device=like.device)
    div = torch.exp(torch.arange(0, dim, 2, dtype=like.dtype, device=like.device) * (-math.log(10000.0) / dim))
    ang = pos[:, None] * div[None, :]
    return torch.stack([ang.sin(), ang.cos()], -1).reshape(2 * n - 1, -1)[:, :dim]


def rel_shift(x: torch.Tensor) -> torch.Tensor:
    """Transformer-XL shift of (B, H, N, 2N-1) position logits so that [i, j] reads distance i - j; -> (B, H, N, N)."""
    b, h, n, m = x.shape
    x = F.pad(x, (1, 0)).reshape(b, h, m + 1, n)[:, :, 1:].reshape(b, h, n, m)
    return x[..., :n]


class RelPosMHSA(nn.Module):
    """Multi-head self-attention with Transformer-XL relative positions over tokens (B, N, C)."""

    def __init__(self, dim: int, head_dim: int = 36, rel_pos: bool = True) -> None:
        super().__init__()
        self.heads, self.head_dim = heads_for(dim, head_dim), head_dim
        inner = self.heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner)
        self.out = nn.Linear(inner, dim)
        self.rel_pos = rel_pos
        if rel_pos:
            self.pos = nn.Linear(dim, inner, bias=False)
            self.pos_bias_u = nn.Parameter(torch.zeros(self.heads, 1, head_dim))
            self.pos_bias_v = nn.Parameter(torch.zeros(self.heads, 1, head_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        b, n, c = t.shape
        q, k, v = self.qkv(t).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.rel_pos:
            p = self.pos(rel_sinusoid(n, c, t)).reshape(2 * n - 1, self.heads, self.head_dim).permute(1, 2, 0)
            logits = torch.matmul(q + self.pos_bias_u, k.transpose(-2, -1))
            logits = logits + rel_shift(torch.matmul(q + self.pos_bias_v, p))
        else:
            logits = torch.matmul(q, k.transpose(-2, -1))
        attn = torch.softmax(logits / math.sqrt(self.head_dim), -1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        return self.out(y)


def rel_mhsa_macs(dim: int, head_dim: int, n: int, rel_pos: bool = True) -> int:
    """q/k/v and output linears, q@k^T and attn@v; with rel_pos the position projection and q@p^T too."""
    inner = heads_for(dim, head_dim) * head_dim
    m = n * dim * 3 * inner + 2 * n * n * inner + n * inner * dim
    return m + ((2 * n - 1) * dim * inner + n * (2 * n - 1) * inner if rel_pos else 0)


class ScaleBias(nn.Module):
    """Learned per-channel scale (init 1) and bias (init 0): Squeezeformer's replacement of the pre-LN."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t * self.weight + self.bias


class SqzFeedForward(nn.Sequential):
    """Linear to ``ratio`` x width, swish, linear back (both with bias)."""

    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__(nn.Linear(dim, dim * ratio), nn.SiLU(), nn.Linear(dim * ratio, dim))


class SqzConvModule(nn.Module):
    """Pointwise conv (x expand), swish or GLU, depthwise k conv, BatchNorm, swish, pointwise conv back: NCL."""

    def __init__(self, dim: int, kernel: int = 31, expand: int = 2, glu: bool = False) -> None:
        super().__init__()
        hid = dim * expand
        mid = hid // 2 if glu else hid
        self.glu = glu
        self.pw1 = nn.Conv1d(dim, hid, 1)
        self.dw = nn.Conv1d(mid, mid, kernel, 1, kernel // 2, groups=mid)
        self.bn = nn.BatchNorm1d(mid)
        self.pw2 = nn.Conv1d(mid, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw1(x)
        y = F.glu(y, 1) if self.glu else F.silu(y)
        return self.pw2(F.silu(self.bn(self.dw(y))))


def sqz_conv_macs(dim: int, n: int, kernel: int, expand: int, glu: bool) -> int:
    hid = dim * expand
    mid = hid // 2 if glu else hid
    return dim * hid * n + kernel * mid * n + mid * dim * n


@register_block("squeezeformer", role="body", family="squeezeformer", dims=SEQ, attention=True, paper=SQZ_PAPER,
                knobs={"head_dim": choice_knob(36, (16, 24, 32, 36, 48, 64)),
                       "ff_ratio": int_knob(4, 1, 8, "FFN hidden width / width"),
                       "kernel": choice_knob(31, (3, 7, 15, 31), "depthwise kernel of the conv module"),
                       "conv_expand": choice_knob(2, (1, 2), "conv module's pointwise expansion"),
                       "glu": bool_knob(False, "GLU after the first pointwise conv (Conformer) instead of swish"),
                       "rel_pos": bool_knob(True, "Transformer-XL relative positions in the MHSA"),
                       "scaled_residual": bool_knob(True, "learned scale/bias on each sub-module's input "
                                                          "(False: a pre-LayerNorm, as Conformer)")})
class SqueezeformerBlock(nn.Module):
    """MHSA, FFN, conv module, FFN; each adds to its input, then a LayerNorm (post-LN, scaled inputs)."""

    contract_knobs = {"head_dim": 16}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 36, ff_ratio: int = 4,
                 kernel: int = 31, conv_expand: int = 2, glu: bool = False, rel_pos: bool = True,
                 scaled_residual: bool = True) -> None:
        super().__init__()
        d = out_ch
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.pre = nn.ModuleList([ScaleBias(d) if scaled_residual else nn.LayerNorm(d) for _ in range(4)])
        self.post = nn.ModuleList([nn.LayerNorm(d) for _ in range(4)])
        self.attn = RelPosMHSA(d, head_dim, rel_pos)
        self.ff1 = SqzFeedForward(d, ff_ratio)
        self.conv = SqzConvModule(d, kernel, conv_expand, glu)
        self.ff2 = SqzFeedForward(d, ff_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.inp(x).transpose(1, 2)
        t = self.post[0](t + self.attn(self.pre[0](t)))
        t = self.post[1](t + self.ff1(self.pre[1](t)))
        t = self.post[2](t + self.conv(self.pre[2](t).transpose(1, 2)).transpose(1, 2))
        t = self.post[3](t + self.ff2(self.pre[3](t)))
        return t.transpose(1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 36, ff_ratio: int = 4,
             kernel: int = 31, conv_expand: int = 2, glu: bool = False, rel_pos: bool = True, **_: object) -> int:
        n, d = h, out_ch
        m = proj1d_macs(in_ch, out_ch, stride, h) + rel_mhsa_macs(d, head_dim, n, rel_pos)
        return m + 4 * n * d * d * ff_ratio + sqz_conv_macs(d, n, kernel, conv_expand, glu)


def _sub_sizes(f: int) -> tuple[int, int, int, int]:
    """Frequency padding and extent after each 3x3/2 'valid' conv: the official pads one bin (80 -> 40 -> 20);
    fewer than 3 bins get the padding a valid conv needs."""
    p1 = max(1, 3 - f)
    f1 = (f + p1 - 3) // 2 + 1
    p2 = max(1, 3 - f1)
    return p1, f1, p2, (f1 + p2 - 3) // 2 + 1


@register_block("sqz_subsample", role="stem", family="squeezeformer", dims=SEQ, paper=SQZ_PAPER,
                knobs={"filters": int_knob(144, 8, 1024, "channels of the two 3x3/2 convs"),
                       "separable": bool_knob(True, "depthwise-separable second conv (Squeezeformer) "
                                                    "or a full 3x3 conv (Conformer)")})
class SqzSubsample(nn.Module):
    """x4 subsampling of a (mel bins x time) signal with 2-D convs, flattened into a linear to the width."""

    def __init__(self, in_ch: int, out_ch: int, filters: int = 144, separable: bool = True) -> None:
        super().__init__()
        self.pads = _sub_sizes(in_ch)[0::2]
        self.conv1 = nn.Conv2d(1, filters, 3, 2)
        self.conv2 = nn.Sequential(nn.Conv2d(filters, filters, 3, 2, groups=filters), nn.Conv2d(filters, filters, 1)) \
            if separable else nn.Conv2d(filters, filters, 3, 2)
        self.linear = nn.Linear(filters * _sub_sizes(in_ch)[3], out_ch)
        self.xscale = math.sqrt(out_ch)
        self.norm = nn.LayerNorm(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.transpose(1, 2).unsqueeze(1)  # (B, 1, time, bins)
        y = F.relu(self.conv1(F.pad(y, (0, self.pads[0], 0, 1))))
        y = F.relu(self.conv2(F.pad(y, (0, self.pads[1], 0, 1))))
        t = self.linear(y.permute(0, 2, 3, 1).flatten(2))  # bins x channels, as the official merge_two_last_dims
        return self.norm(t * self.xscale).transpose(1, 2)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, filters: int = 144, separable: bool = True,
             **_: object) -> int:
        _, f1, _, f2 = _sub_sizes(in_ch)
        t1 = (h - 2) // 2 + 1
        t2 = (t1 - 2) // 2 + 1
        second = (9 * filters + filters * filters) if separable else 9 * filters * filters
        return 9 * filters * t1 * f1 + second * t2 * f2 + t2 * filters * f2 * out_ch


@register_block("sqz_time_reduce", role="downsample", family="squeezeformer", dims=SEQ, paper=SQZ_PAPER,
                knobs={"kernel": choice_knob(5, (3, 5, 7), "depthwise kernel (stride 2)")})
class SqzTimeReduce(nn.Module):
    """Squeezeformer's time reduction: depthwise k conv stride 2 (right-padded by k - 2), pointwise conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 5) -> None:
        super().__init__()
        self.pad = kernel - 2
        self.dw = nn.Conv1d(in_ch, in_ch, kernel, 2, groups=in_ch)
        self.pw = nn.Conv1d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(F.pad(x, (0, self.pad))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 5, **_: object) -> int:
        n = (h - 2) // 2 + 1
        return conv1d_macs(in_ch, in_ch, kernel, n, groups=in_ch) + conv1d_macs(in_ch, out_ch, 1, n)


@register_block("sqz_time_recover", role="upsample", family="squeezeformer", dims=SEQ, paper=SQZ_PAPER,
                knobs={"kernel": choice_knob(1, (1, 3, 5), "conv after the repeat (1: the official dense layer)")})
class SqzTimeRecover(nn.Module):
    """Squeezeformer's time recovery: every frame repeated twice, then a dense layer (a k=1 conv)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1) -> None:
        super().__init__()
        self.proj = nn.Conv1d(in_ch, out_ch, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n = x.shape
        return self.proj(x.unsqueeze(-1).expand(b, c, n, 2).reshape(b, c, 2 * n))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 1, **_: object) -> int:
        return conv1d_macs(in_ch, out_ch, kernel, 2 * h)
