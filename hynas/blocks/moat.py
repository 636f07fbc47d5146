"""MOAT blocks (Yang et al. 2022, "MOAT: Alternating Mobile Convolution and Attention Brings Strong Vision
Models"; github.com/google-research/deeplab2 ``model/layers/moat_blocks.py``, ``moat_attention.py``,
``model/pixel_encoder/moat.py``).

Facts taken from the official code:

- the MBConv is pre-norm (BN on the input, no activation), 1x1 expand without bias to 4x the
  *output* width, BN + GELU (exact), depthwise 3x3 (strides), BN + GELU, squeeze-excite
  (reduced to 0.25x the output width, biased convs, SiLU) in the MBConv stages only, then a
  biased 1x1 projection; the shortcut average-pools 2x2 when striding and uses a biased 1x1
  conv when the width changes; Keras BN eps 1e-3 -- the same pre-norm MBConv MaxViT uses,
  so it is shared from ``hynas.blocks.maxvit``;
- a MOAT block is that MBConv *without* SE, then x + Attention(LayerNorm(x)) (eps 1e-5)
  with biased q/k/v/output projections and 32-wide heads, and *no* MLP; attention is global
  over the map (classification) or inside non-overlapping windows;
- the relative position embedding is a learned (heads, 2p-1, 2p-1) table for a p x p
  "position embedding size" (14 at stride 16, 7 at stride 32), bilinearly resized when the
  attended window is not p x p, then looked up by (key - query) offsets;
- the stem is conv3x3 s2 + BN + GELU + conv3x3 (64, 64; biased convs), the head global
  average pool, LayerNorm, and a biased 1x1 conv (a linear) to the classes -- ``maxvit_stem``
  with exact GELU and ``pool_linear`` with a LayerNorm express them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import down, heads_for
from hynas.blocks.maxvit import LN_EPS, PreNormMBConv, mbconv_macs, window_refusal
from hynas.space.catalog import choice_knob, float_knob, int_knob

PAPER = "MOAT (Yang et al. 2022), github.com/google-research/deeplab2 (model/layers/moat_blocks.py)"


@register_block("moat_mbconv", role="body", family="moat", can_stride=True, paper=PAPER,
                knobs={"expansion": int_knob(4, 1, 8, "expansion of the output width"),
                       "kernel": choice_knob(3, (3, 5), "depthwise kernel"),
                       "se_ratio": float_knob(0.25, 0.0, 0.5, "SE width / output width (0: no SE)"),
                       "gelu": choice_knob("exact", ("exact", "tanh"), "GELU form")})
class MOATMBConv(nn.Module):
    """Pre-norm MBConv with squeeze-excite: MOAT's stages 1-2 (also CoAtNet's MBConv)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 se_ratio: float = 0.25, gelu: str = "exact") -> None:
        super().__init__()
        self.mbconv = PreNormMBConv(in_ch, out_ch, stride, expansion, kernel, se_ratio, gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mbconv(x)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, kernel: int = 3,
             se_ratio: float = 0.25, **_: object) -> int:
        return mbconv_macs(in_ch, out_ch, stride, h, w, expansion, kernel, se_ratio)


def relative_bias(table: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(heads, h*w, h*w) bias for an h x w window from a (heads, 2p-1, 2q-1) table, resized when p, q differ."""
    if table.shape[-2] != 2 * h - 1 or table.shape[-1] != 2 * w - 1:
        table = F.interpolate(table.unsqueeze(0), size=(2 * h - 1, 2 * w - 1), mode="bilinear",
                              align_corners=False).squeeze(0)
    ys, xs = torch.meshgrid(torch.arange(h, device=table.device), torch.arange(w, device=table.device),
                            indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    return table[:, ys[None, :] - ys[:, None] + h - 1, xs[None, :] - xs[:, None] + w - 1]


class MOATAttention(nn.Module):
    """Multi-head self-attention over an h x w window (B, h, w, C) with a resizable relative position table."""

    def __init__(self, dim: int, head_dim: int = 32, pos_size: int = 7) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = head_dim
        inner = self.heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner)
        self.rel_pos = nn.Parameter(torch.zeros(self.heads, 2 * pos_size - 1, 2 * pos_size - 1))
        nn.init.normal_(self.rel_pos, std=0.02)
        self.proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        n = h * w
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        bias = relative_bias(self.rel_pos, h, w).to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(y.transpose(1, 2).reshape(b, h, w, self.heads * self.head_dim))


@register_block("moat", role="body", family="moat", attention=True, can_stride=True, paper=PAPER,
                knobs={"expansion": int_knob(4, 1, 8, "MBConv expansion of the output width"),
                       "kernel": choice_knob(3, (3, 5), "depthwise kernel"),
                       "head_dim": choice_knob(32, (16, 32, 64), "attention head width"),
                       "window": int_knob(0, 0, 64, "attention window (0: global over the map)"),
                       "pos_size": int_knob(7, 1, 64, "relative position table size p ((2p-1)^2 per head; "
                                                      "official 14 at stride 16, 7 at stride 32)"),
                       "gelu": choice_knob("exact", ("exact", "tanh"), "GELU form in the MBConv")})
class MOATBlock(nn.Module):
    """MBConv without SE, then pre-norm multi-head self-attention (global or windowed), no MLP."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 head_dim: int = 32, window: int = 0, pos_size: int = 7, gelu: str = "exact") -> None:
        super().__init__()
        self.window = window
        self.mbconv = PreNormMBConv(in_ch, out_ch, stride, expansion, kernel, 0.0, gelu)
        self.norm = nn.LayerNorm(out_ch, eps=LN_EPS)
        self.attn = MOATAttention(out_ch, head_dim, pos_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mbconv(x).permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        y = self.norm(x)
        p = self.window
        if p:  # non-overlapping p x p windows, attended independently
            y = y.reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, p, p, c)
            y = self.attn(y).reshape(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        else:
            y = self.attn(y)
        return (x + y).permute(0, 3, 1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, kernel: int = 3,
             head_dim: int = 32, window: int = 0, **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        inner = heads_for(out_ch, head_dim) * head_dim
        keys = window * window if window else n
        return mbconv_macs(in_ch, out_ch, stride, h, w, expansion, kernel, 0.0) + 4 * n * out_ch * inner + \
            2 * n * keys * inner

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, window: int = 0, **_: object) -> str | None:
        return window_refusal(down(h, stride), down(w, stride), window) if window else None
