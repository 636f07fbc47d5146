"""CvT (Wu et al. 2021, "CvT: Introducing Convolutions to Vision Transformers"; official code
leoxiaobin/CvT, ``lib/models/cls_cvt.py``): convolutional token embedding and the
convolutional-projection transformer block, plus a class-token head shared with ConViT.

Facts carried over from the official code (CvT-13 config): token embeddings are a biased
conv (7x7 stride 4 padding 2, then 3x3 stride 2 padding 1) followed by LayerNorm; q, k, v
are each a depthwise 3x3 conv (no bias) + BatchNorm on the map (k and v with stride 2),
then a Linear (with bias); the attention scale is ``dim ** -0.5`` of the whole width, not
of a head (an official quirk kept so trained weights behave the same); the class token,
when present, skips the convolutions and joins q, k and v as one extra token; MLP ratio 4.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import (
    ACT_KNOB,
    ChannelProj,
    LayerNorm2d,
    conv_macs,
    down,
    heads_for,
    make_act,
    proj_macs,
)
from hynas.space.catalog import Knob, bool_knob, choice_knob, float_knob, int_knob

CVT_PAPER = "CvT (Wu et al. 2021), github.com/leoxiaobin/CvT lib/models/cls_cvt.py"

# Token pruning (a per-stage keep ratio, the EET knob; top-k selection as in EViT, Liang et al.
# 2022, scored by token magnitude). On an NCHW map tokens cannot leave the network, because the conv
# blocks after need the whole grid. So a pruning block lets only the kept tokens (the k = ceil(ratio*N)
# of largest L2 norm, plus the class token) be queries, get the attention output and the MLP; the
# others stay in the map unchanged and still serve as keys/values. The savings (q projection,
# attention rows, output projection, MLP) are counted by the blocks' MAC formulas.
KEEP_KNOB: Knob = float_knob(1.0, 0.1, 1.0, "token pruning: share of map tokens the block updates (1 = all)")


def kept_tokens(n: int, keep_ratio: float) -> int:
    """How many of n map tokens a block with this keep ratio updates (at least one)."""
    return n if keep_ratio >= 1.0 else max(1, math.ceil(keep_ratio * n))


def keep_index(t: torch.Tensor, keep_ratio: float) -> torch.Tensor | None:
    """(B, k) positions of the k map tokens of largest L2 norm, or None when all are kept."""
    k = kept_tokens(t.shape[1], keep_ratio)
    if k >= t.shape[1]:
        return None
    return torch.linalg.vector_norm(t, dim=-1).topk(k, dim=1).indices


def pick_tokens(t: torch.Tensor, idx: torch.Tensor | None, n_cls: int) -> torch.Tensor:
    """The class tokens and the kept map tokens of (B, n_cls + N, C)."""
    if idx is None:
        return t
    kept = t[:, n_cls:].gather(1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
    return torch.cat([t[:, :n_cls], kept], 1) if n_cls else kept


def put_tokens(t: torch.Tensor, sel: torch.Tensor, idx: torch.Tensor | None, n_cls: int) -> torch.Tensor:
    """``t`` with the picked tokens replaced by ``sel`` (the inverse of pick_tokens)."""
    if idx is None:
        return sel
    grid = t[:, n_cls:].scatter(1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]), sel[:, n_cls:])
    return torch.cat([sel[:, :n_cls], grid], 1) if n_cls else grid


@register_block("cvt_stem", role="stem", family="cvt", paper=CVT_PAPER,
                knobs={"kernel": choice_knob(7, (3, 5, 7)), "reduction": choice_knob(4, (2, 4), "total stride")})
class CvTStem(nn.Module):
    """Convolutional token embedding of the image: one overlapping strided conv (with bias) + LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 7, reduction: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, kernel, reduction, (kernel - reduction + 1) // 2)
        self.norm = LayerNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    @staticmethod
    def reduction(reduction: int = 4, **_: object) -> int:
        return reduction

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, reduction: int = 4,
             **_: object) -> int:
        return conv_macs(in_ch, out_ch, kernel, h // reduction, w // reduction)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, reduction: int = 4, **_: object) -> str | None:
        return None if h % reduction == 0 and w % reduction == 0 else f"stride {reduction} does not divide {h}x{w}"


@register_block("cvt_embed", role="downsample", family="cvt", paper=CVT_PAPER,
                knobs={"kernel": choice_knob(3, (3, 5))})
class CvTEmbed(nn.Module):
    """Convolutional token embedding between stages: overlapping stride-2 conv (with bias) + LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, kernel, 2, kernel // 2)
        self.norm = LayerNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, **_: object) -> int:
        return conv_macs(in_ch, out_ch, kernel, down(h, 2), down(w, 2))


class DwBN(nn.Sequential):
    """Depthwise conv (no bias) + BatchNorm: CvT's 'dw_bn' projection of q, k or v."""

    def __init__(self, dim: int, stride: int) -> None:
        super().__init__(nn.Conv2d(dim, dim, 3, stride, 1, groups=dim, bias=False), nn.BatchNorm2d(dim))


class ConvProjAttention(nn.Module):
    """Multi-head attention whose q, k, v come from depthwise-conv projections of the map."""

    def __init__(self, dim: int, head_dim: int, kv_stride: int, qkv_bias: bool) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = dim // self.heads
        inner = self.heads * self.head_dim
        self.scale = dim ** -0.5
        self.conv_q = DwBN(dim, 1)
        self.conv_k = DwBN(dim, kv_stride)
        self.conv_v = DwBN(dim, kv_stride)
        self.proj_q = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj_k = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj_v = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, t: torch.Tensor, h: int, w: int, n_cls: int, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Attention output for the class tokens and the kept map tokens (all of them when idx is None)."""
        b, _, c = t.shape
        cls, tokens = t[:, :n_cls], t[:, n_cls:]
        x = tokens.transpose(1, 2).reshape(b, c, h, w)
        q, k, v = (torch.cat([cls, conv(x).flatten(2).transpose(1, 2)], 1)
                   for conv in (self.conv_q, self.conv_k, self.conv_v))
        q = pick_tokens(q, idx, n_cls)
        q, k, v = self._split(self.proj_q(q)), self._split(self.proj_k(k)), self._split(self.proj_v(v))
        y = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(y.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim))


@register_block("cvt", role="body", family="cvt", attention=True, paper=CVT_PAPER,
                knobs={"head_dim": choice_knob(64, (32, 48, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "kv_stride": choice_knob(2, (1, 2), "stride of the k/v depthwise projections"),
                       "qkv_bias": bool_knob(True), "cls_token": bool_knob(False, "carry a class token (CvT's "
                                                                               "last stage)"),
                       "act": ACT_KNOB, "keep_ratio": KEEP_KNOB})
class CvTBlock(nn.Module):
    """Pre-norm transformer block with convolutional q/k/v projections (CvT), optional class token.

    With ``cls_token`` the block is called ``x, cls = block(x, cls)`` by the network (see
    ``HybridNet``); called alone with a map it uses a zero token, so its cost is the same.
    ``keep_ratio`` < 1 prunes queries (see KEEP_KNOB above).
    """

    contract_knobs = {"keep_ratio": 0.5}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 64, mlp_ratio: int = 4,
                 kv_stride: int = 2, qkv_bias: bool = True, cls_token: bool = False, act: str = "gelu",
                 keep_ratio: float = 1.0) -> None:
        super().__init__()
        self.uses_cls = cls_token
        self.keep_ratio = keep_ratio
        self.cls_in_ch = in_ch
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.cls_proj = nn.Linear(in_ch, out_ch) if cls_token and in_ch != out_ch else nn.Identity()
        self.norm1 = nn.LayerNorm(out_ch)
        self.attn = ConvProjAttention(out_ch, head_dim, kv_stride, qkv_bias)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def forward(self, x: torch.Tensor, cls: torch.Tensor | None = None):
        alone = cls is None
        if self.uses_cls and alone:
            cls = x.new_zeros(x.shape[0], 1, x.shape[1])
        x = self.inp(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        n_cls = 1 if self.uses_cls else 0
        if self.uses_cls:
            t = torch.cat([self.cls_proj(cls), t], 1)
        idx = keep_index(t[:, n_cls:], self.keep_ratio)
        sel = pick_tokens(t, idx, n_cls) + self.attn(self.norm1(t), h, w, n_cls, idx)
        sel = sel + self.fc2(self.act(self.fc1(self.norm2(sel))))
        t = put_tokens(t, sel, idx, n_cls)
        x = t[:, n_cls:].transpose(1, 2).reshape(b, c, h, w)
        return x if alone else (x, t[:, :n_cls])

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 64, mlp_ratio: int = 4,
             kv_stride: int = 2, cls_token: bool = False, keep_ratio: float = 1.0, **_: object) -> int:
        m = proj_macs(in_ch, out_ch, stride, h, w)
        h, w = down(h, stride), down(w, stride)
        c, n, n_kv = out_ch, h * w, down(h, kv_stride) * down(w, kv_stride)
        heads = heads_for(c, head_dim)
        inner = heads * (c // heads)
        t = 1 if cls_token else 0
        nq = kept_tokens(n, keep_ratio) + t  # tokens that are queries and get the MLP
        m += in_ch * out_ch if cls_token and in_ch != out_ch else 0
        m += 9 * c * (n + 2 * n_kv)  # depthwise q, k, v
        m += nq * c * inner + 2 * (n_kv + t) * c * inner + nq * inner * c  # q, k, v, out linears
        m += 2 * nq * (n_kv + t) * inner  # q @ k^T and attn @ v
        return m + 2 * nq * c * c * mlp_ratio


@register_block("token_head", role="head", family="cvt",
                paper="CvT (Wu et al. 2021) and ConViT (d'Ascoli et al. 2021): LayerNorm + Linear on the class token",
                knobs={})
class TokenHead(nn.Module):
    """LayerNorm + Linear on the class token; without one, on the mean of the normed map tokens."""

    uses_cls = True

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_ch)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor, cls: torch.Tensor | None = None) -> torch.Tensor:
        if cls is not None:
            return self.fc(self.norm(cls[:, 0]))
        return self.fc(self.norm(x.flatten(2).transpose(1, 2)).mean(1))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch
