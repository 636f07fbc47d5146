"""Plain pre-norm transformer block (ViT) on NCHW maps, with optional conditional position encoding."""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACT_KNOB, ChannelProj, down, fused_mhsa, heads_for, make_act, proj_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob


class Attention(nn.Module):
    """Multi-head self-attention over a token sequence (B, N, C) with fused scaled dot-product."""

    def __init__(self, dim: int, head_dim: int = 32, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = head_dim
        inner = self.heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_mhsa(x, self.qkv, self.proj, self.heads, self.head_dim)


def attention_macs(dim: int, head_dim: int, n: int) -> int:
    """qkv + q@k^T + attn@v + output projection, for n tokens."""
    inner = heads_for(dim, head_dim) * head_dim
    return n * dim * 3 * inner + 2 * n * n * inner + n * inner * dim


@register_block("mhsa", role="body", family="vit", attention=True, can_stride=True,
                paper="ViT (Dosovitskiy et al. 2021); CPE from CPVT (Chu et al. 2023)",
                knobs={"head_dim": choice_knob(32, (8, 16, 32, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(True), "cpe": bool_knob(False, "3x3 depthwise position encoding"),
                       "act": ACT_KNOB})
class TransformerBlock(nn.Module):
    """Pre-norm global multi-head self-attention + MLP, on the flattened map."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 qkv_bias: bool = True, cpe: bool = False, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.cpe = nn.Conv2d(out_ch, out_ch, 3, 1, 1, groups=out_ch) if cpe else None
        self.norm1 = nn.LayerNorm(out_ch)
        self.attn = Attention(out_ch, head_dim, qkv_bias)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        if self.cpe is not None:
            x = x + self.cpe(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + self.attn(self.norm1(t))
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2).reshape(b, c, h, w)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 4,
             cpe: bool = False, **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        m = proj_macs(in_ch, out_ch, stride, h, w) + attention_macs(out_ch, head_dim, n)
        m += 2 * n * out_ch * out_ch * mlp_ratio
        return m + (9 * out_ch * n if cpe else 0)
