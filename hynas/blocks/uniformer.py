"""UniFormer (Li et al. 2022/2023, "UniFormer: Unifying Convolution and Self-attention for
Visual Recognition"; github.com/Sense-X/UniFormer).

Both UniFormer blocks start with a dynamic position embedding (a 3x3 depthwise conv added
to the input) and end with an MLP; they differ in the relation aggregator (MHRA). The
*local* MHRA learns a depthwise-conv affinity (BN, 1x1, 5x5 depthwise, 1x1) and runs in
stages 1-2 with BatchNorm and a conv MLP; the *global* MHRA is multi-head self-attention
(64-wide heads, qkv bias) with LayerNorm (eps 1e-6) in stages 3-4. Facts from the official
``image_classification/models/uniformer.py``; patch embeddings are a kernel = stride conv
(4 for the stem, 2 between stages) with bias, followed by LayerNorm; the head is
BatchNorm, average pool, linear.
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, fused_mhsa, heads_for, proj_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

PAPER = ("UniFormer (Li et al. 2022, Unifying Convolution and Self-attention for Visual Recognition), "
         "github.com/Sense-X/UniFormer")


class DynamicPosEmbed(nn.Module):
    """x + depthwise 3x3 conv(x): UniFormer's dynamic position embedding (DPE)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


@register_block("uniformer_local", role="body", family="uniformer", paper=PAPER,
                knobs={"kernel": choice_knob(5, (3, 5, 7), "depthwise relation kernel"),
                       "mlp_ratio": int_knob(4, 1, 8), "dpe": bool_knob(True, "dynamic position embedding")})
class UniFormerLocalBlock(nn.Module):
    """DPE, then x + 1x1(dw kxk(1x1(BN(x)))) (local MHRA), then x + conv MLP(BN(x))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel: int = 5, mlp_ratio: int = 4,
                 dpe: bool = True) -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.pos = DynamicPosEmbed(c) if dpe else nn.Identity()
        self.norm1 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, c, 1)
        self.attn = nn.Conv2d(c, c, kernel, 1, kernel // 2, groups=c)
        self.conv2 = nn.Conv2d(c, c, 1)
        self.norm2 = nn.BatchNorm2d(c)
        self.fc1 = nn.Conv2d(c, c * mlp_ratio, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(c * mlp_ratio, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos(self.inp(x))
        x = x + self.conv2(self.attn(self.conv1(self.norm1(x))))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 5, mlp_ratio: int = 4,
             dpe: bool = True, **_: object) -> int:
        c, n = out_ch, h * w
        per_pos = (9 * c if dpe else 0) + 2 * c * c + kernel * kernel * c + 2 * c * c * mlp_ratio
        return proj_macs(in_ch, out_ch, stride, h, w) + per_pos * n


def uniformer_heads(dim: int, head_dim: int) -> tuple[int, int]:
    """(heads, head width): dim // head_dim heads (at least one), each dim // heads wide."""
    heads = heads_for(dim, head_dim)
    return heads, dim // heads


@register_block("uniformer_global", role="body", family="uniformer", attention=True, paper=PAPER,
                knobs={"head_dim": choice_knob(64, (32, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(True), "dpe": bool_knob(True, "dynamic position embedding")})
class UniFormerGlobalBlock(nn.Module):
    """DPE, then pre-LayerNorm multi-head self-attention (global MHRA) and MLP on the flattened map."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 64, mlp_ratio: int = 4,
                 qkv_bias: bool = True, dpe: bool = True) -> None:
        super().__init__()
        c = out_ch
        self.heads, self.head_dim = uniformer_heads(c, head_dim)
        inner = self.heads * self.head_dim
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.pos = DynamicPosEmbed(c) if dpe else nn.Identity()
        self.norm1 = nn.LayerNorm(c, eps=1e-6)
        self.qkv = nn.Linear(c, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, c)
        self.norm2 = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, c * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(c * mlp_ratio, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos(self.inp(x))
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + fused_mhsa(self.norm1(t), self.qkv, self.proj, self.heads, self.head_dim)
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2).reshape(b, c, h, w)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 64, mlp_ratio: int = 4,
             dpe: bool = True, **_: object) -> int:
        c, n = out_ch, h * w
        heads, hd = uniformer_heads(c, head_dim)
        inner = heads * hd
        m = n * (4 * c * inner + 2 * c * c * mlp_ratio + (9 * c if dpe else 0)) + 2 * n * n * inner
        return proj_macs(in_ch, out_ch, stride, h, w) + m


@register_block("uniformer_down", role="downsample", family="uniformer", paper=PAPER, knobs={})
class UniFormerPatchDown(nn.Module):
    """2x2 stride-2 patch conv with bias, then LayerNorm (UniFormer's PatchEmbed between stages)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 2, 2)
        self.norm = nn.LayerNorm(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return 4 * in_ch * out_ch * (h // 2) * (w // 2)

    @staticmethod
    def check_map(h: int, w: int, stride: int, **_: object) -> str | None:
        return None if h % 2 == 0 and w % 2 == 0 else f"a 2x2 patch merge needs an even map, got {h}x{w}"
