"""CoAtNet blocks (Dai et al. 2021, "CoAtNet: Marrying Convolution and Attention for All Data Sizes";
timm ``maxxvit.py``, configuration ``coatnet_0_224``).

Facts from timm's implementation, which the reference counts follow:

- the stem is a bias-free conv3x3/2 + BN + GELU, then a bias-free conv3x3 (no norm after);
- the convolution stages are pre-norm MBConvs with squeeze-excite, expansion 4 of the
  *output* width, striding in the depthwise conv, the strided block's shortcut a 2x2 average
  pool plus a biased 1x1 conv (``moat_mbconv`` expresses it);
- the transformer block is 2-D (NCHW): x' = shortcut(x) + Attention(LN(x)), where a strided
  block average-pools the normed map (2x2) and its shortcut pools and widens with a biased
  1x1 conv; the attention is global over the map, its qkv a biased 1x1 conv from the *input*
  width to three times the output width (32-wide heads), with a learned relative position
  bias of (2s-1)^2 entries per head for the s x s map (14 in stage 3, 7 in stage 4 at 224),
  and a biased 1x1 output projection; then x' + MLP(LN(x')), biased 1x1 convs, ratio 4,
  GELU; norms are LayerNorm over channels;
- the head pools, applies LayerNorm, a pre-logits linear + tanh of the same width and the
  classifier (``maxvit_head``).

The bias table is sized by the ``rel_size`` knob; on another map it is bilinearly resized
(as MOAT does), so the block runs at any map size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import LayerNorm2d, conv_macs, down, heads_for
from hynas.blocks.moat import relative_bias
from hynas.space.catalog import choice_knob, int_knob

PAPER = "CoAtNet (Dai et al. 2021), timm maxxvit.py (coatnet_0_224)"


@register_block("coatnet_stem", role="stem", family="coatnet", paper=PAPER, knobs={})
class CoAtNetStem(nn.Module):
    """Bias-free conv3x3/2 + BN + GELU, then a bias-free conv3x3."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 2, 1, bias=False)
        self.norm1 = nn.Sequential(nn.BatchNorm2d(out_ch), nn.GELU())
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.norm1(self.conv1(x)))

    @staticmethod
    def reduction(**_: object) -> int:
        return 2

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return conv_macs(in_ch + out_ch, out_ch, 3, down(h, 2), down(w, 2))


def _pool(stride: int) -> nn.Module:
    return nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride == 2 else nn.Identity()


class RelPosAttention2d(nn.Module):
    """Global attention on an NCHW map: biased 1x1 qkv (input width -> 3 x output width), relative position bias."""

    def __init__(self, in_ch: int, out_ch: int, head_dim: int, rel_size: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads_for(out_ch, head_dim), head_dim
        inner = self.heads * head_dim
        self.qkv = nn.Conv2d(in_ch, 3 * inner, 1)
        self.rel_pos = nn.Parameter(torch.zeros(self.heads, 2 * rel_size - 1, 2 * rel_size - 1))
        nn.init.trunc_normal_(self.rel_pos, std=0.02)
        self.proj = nn.Conv2d(inner, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self.qkv(x).reshape(b, self.heads, 3 * self.head_dim, h * w).transpose(2, 3).chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=relative_bias(self.rel_pos, h, w).to(q.dtype))
        return self.proj(y.transpose(2, 3).reshape(b, -1, h, w))


@register_block("coatnet", role="body", family="coatnet", attention=True, can_stride=True, paper=PAPER,
                knobs={"head_dim": choice_knob(32, (16, 32, 64), "attention head width"),
                       "mlp_ratio": int_knob(4, 1, 8),
                       "rel_size": int_knob(14, 1, 64, "side of the relative-position table (the map side at 224)")})
class CoAtNetTransformer(nn.Module):
    """shortcut(x) + Attention(LN(x) [pooled]); x + MLP(LN(x)), all on NCHW maps."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 rel_size: int = 14) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(_pool(stride), nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity())
        self.norm1 = nn.Sequential(LayerNorm2d(in_ch, eps=1e-5), _pool(stride))
        self.attn = RelPosAttention2d(in_ch, out_ch, head_dim, rel_size)
        self.norm2 = LayerNorm2d(out_ch, eps=1e-5)
        self.mlp = nn.Sequential(nn.Conv2d(out_ch, out_ch * mlp_ratio, 1), nn.GELU(),
                                 nn.Conv2d(out_ch * mlp_ratio, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shortcut(x) + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 4,
             **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        inner = heads_for(out_ch, head_dim) * head_dim
        m = n * in_ch * 3 * inner + 2 * n * n * inner + n * inner * out_ch + 2 * n * out_ch * out_ch * mlp_ratio
        return m + (n * in_ch * out_ch if in_ch != out_ch else 0)
