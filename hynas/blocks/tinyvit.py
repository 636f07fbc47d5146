"""TinyViT blocks (Wu et al. 2022, "TinyViT: Fast Pretraining Distillation for Small Vision Transformers";
github.com/microsoft/Cream (TinyViT), timm port ``tiny_vit.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- every conv is bias-free + BN, activations GELU; the stem is conv3x3/2 + BN to half the
  width, GELU, conv3x3/2 + BN to the width (no activation after);
- stage 1 is MobileNetV2 inverted residuals (expansion 4) with GELU *after* the residual sum
  (``mnv2`` with ``act_out``);
- later stages open with PatchMerging: 1x1 + BN + GELU, depthwise 3x3/2 + BN + GELU, 1x1 + BN;
- a TinyViT block: x + WindowAttention(x) in window x window windows (the map zero-padded to
  a multiple of the window), the attention pre-normed by its own LayerNorm, biased qkv and
  projection linears, head width = width / heads, and a learned bias per head for every
  (|dy|, |dx|) offset inside the window; then a depthwise 3x3 + BN (no residual), then
  x + MLP(LN(x)) (ratio 4, GELU);
- the head pools, applies LayerNorm and a linear classifier (``pool_linear`` with ``ln``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, conv_macs, down, proj_macs
from hynas.blocks.efficientformer import OffsetBias
from hynas.space.catalog import int_knob, related

PAPER = "TinyViT (Wu et al. 2022), github.com/microsoft/Cream (timm port tiny_vit.py)"


def tinyvit_conv_bn(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Bias-free conv + BN."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch))


@register_block("tinyvit_stem", role="stem", family="tinyvit", paper=PAPER, knobs={})
class TinyViTStem(nn.Module):
    """conv3x3/2 + BN (half width), GELU, conv3x3/2 + BN (width)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        half = max(1, out_ch // 2)
        self.conv1 = tinyvit_conv_bn(in_ch, half, 3, 2)
        self.act = nn.GELU()
        self.conv2 = tinyvit_conv_bn(half, out_ch, 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        half = max(1, out_ch // 2)
        h2, w2 = down(h, 2), down(w, 2)
        return conv_macs(in_ch, half, 3, h2, w2) + conv_macs(half, out_ch, 3, down(h2, 2), down(w2, 2))


@register_block("patch_merging", role="downsample", family="tinyvit", paper=PAPER, knobs={})
class PatchMerging(nn.Module):
    """1x1 + BN + GELU, depthwise 3x3/2 + BN + GELU, 1x1 + BN."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(tinyvit_conv_bn(in_ch, out_ch), nn.GELU(),
                                    tinyvit_conv_bn(out_ch, out_ch, 3, 2, groups=out_ch),
                                    nn.GELU(), tinyvit_conv_bn(out_ch, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        n2 = down(h, 2) * down(w, 2)
        return in_ch * out_ch * h * w + n2 * (9 * out_ch + out_ch * out_ch)


class WindowAttention(nn.Module):
    """LN, biased qkv, attention with offset biases inside each window, projection; on (B, h, w, C)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        while dim % heads:  # a width the heads do not divide (a search's) gets the nearest lower count
            heads -= 1
        self.heads, self.head_dim, self.window = heads, dim // heads, window
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias = OffsetBias(heads, window)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        p = self.window
        ph, pw = (p - h % p) % p, (p - w % p) % p
        if ph or pw:
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
        hh, ww = h + ph, w + pw
        t = x.reshape(b, hh // p, p, ww // p, p, c).transpose(2, 3).reshape(-1, p * p, c)
        t = self.norm(t)
        q, k, v = self.qkv(t).reshape(t.shape[0], p * p, self.heads, 3 * self.head_dim).permute(0, 2, 1, 3) \
            .chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias(p, p).to(q.dtype))
        y = self.proj(y.transpose(1, 2).reshape(-1, p * p, c))
        y = y.reshape(b, hh // p, ww // p, p, p, c).transpose(2, 3).reshape(b, hh, ww, c)
        return y[:, :h, :w]


@register_block("tinyvit", role="body", family="tinyvit", attention=True, paper=PAPER,
                knobs={"heads": related(int_knob(4, 1, 32, "attention heads (divide the width)"), "divides_width"),
                       "window": related(int_knob(7, 1, 32, "attention window side (tiles the map at the space's resolution; other maps are padded to a multiple)"), "tiles_map"),
                       "mlp_ratio": int_knob(4, 1, 8), "local_kernel": int_knob(3, 1, 7, "depthwise conv kernel")})
class TinyViTBlock(nn.Module):
    """x + window attention(x); depthwise conv + BN; x + MLP(LN(x))."""

    contract_knobs = {"window": 4}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, heads: int = 4, window: int = 7,
                 mlp_ratio: int = 4, local_kernel: int = 3) -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch)
        self.attn = WindowAttention(c, heads, window)
        self.local_conv = tinyvit_conv_bn(c, c, local_kernel, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, c * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(c * mlp_ratio, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x).permute(0, 2, 3, 1)
        x = self.local_conv((x + self.attn(x)).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = x + self.fc2(self.act(self.fc1(self.norm(x))))
        return x.permute(0, 3, 1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, heads: int = 4, window: int = 7,
             mlp_ratio: int = 4, local_kernel: int = 3, **_: object) -> int:
        c, n = out_ch, h * w
        npad = -(-h // window) * -(-w // window) * window * window
        attn = 4 * npad * c * c + 2 * npad * window * window * c
        return proj_macs(in_ch, out_ch, 1, h, w) + attn + local_kernel * local_kernel * c * n + 2 * n * c * c * mlp_ratio
