"""MaxViT blocks (Tu et al. 2022, "MaxViT: Multi-Axis Vision Transformer"; github.com/google-research/maxvit,
PyTorch port in timm ``maxxvit.py``, configuration ``maxvit_tiny_tf``).

Facts taken from the official code (as ported to timm), which the reference counts follow:

- a MaxViT block is an MBConv, then block attention (non-overlapping window x window
  windows), then grid attention (a window x window grid of dilated tokens), each attention
  pre-norm LayerNorm (eps 1e-5) + biased qkv/proj linears with 32-wide heads and a learned
  relative position bias table of (2w-1)^2 entries per head, followed by its own pre-norm
  MLP (ratio 4, tanh-GELU);
- the MBConv is pre-norm: BN on the input (no activation), 1x1 expand (no bias) to 4x the
  *output* width, BN+GELU, depthwise 3x3 (strides here), BN+GELU, squeeze-excite (SiLU,
  reduced to 0.25x the output width), 1x1 projection *with* bias; the shortcut of a
  striding block is a 2x2 average pool then a biased 1x1 conv (when the width changes);
  conv BNs use eps 1e-3;
- the stem is conv3x3 s2 (bias) + BN + GELU + conv3x3 (bias), no norm after;
- the head pools, applies LayerNorm, a pre-logits Linear + tanh of the same width, then
  the classifier Linear.

TF's asymmetric 'same' padding of the strided depthwise conv is written as symmetric
padding: same shapes, same counts (only pretrained TF weights would notice).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import SqueezeExcite, down, heads_for
from hynas.space.catalog import choice_knob, float_knob, int_knob

PAPER = "MaxViT (Tu et al. 2022), github.com/google-research/maxvit (timm port maxxvit.py)"
BN_EPS = 1e-3
LN_EPS = 1e-5
GELU_KNOB = choice_knob("tanh", ("tanh", "exact"), "GELU form: tanh approximation (MaxViT) or exact (MOAT)")


def make_gelu(kind: str = "tanh") -> nn.Module:
    return nn.GELU(approximate="tanh" if kind == "tanh" else "none")


class PreNormMBConv(nn.Module):
    """Pre-norm MBConv: BN, 1x1 expand, BN+GELU, depthwise kxk (strides), BN+GELU, optional SE, 1x1 project.

    The expansion is counted on the output width and the projection carries a bias (MaxViT,
    MOAT); the shortcut average-pools when striding and uses a biased 1x1 conv when widening.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 se_ratio: float = 0.25, gelu: str = "tanh") -> None:
        super().__init__()
        mid = out_ch * expansion
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride == 2 else nn.Identity()
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.pre_norm = nn.BatchNorm2d(in_ch, eps=BN_EPS)
        self.conv1_1x1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.norm1 = nn.Sequential(nn.BatchNorm2d(mid, eps=BN_EPS), make_gelu(gelu))
        self.conv2_kxk = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self.norm2 = nn.Sequential(nn.BatchNorm2d(mid, eps=BN_EPS), make_gelu(gelu))
        self.se = SqueezeExcite(mid, max(1, int(out_ch * se_ratio))) if se_ratio > 0 else nn.Identity()
        self.conv3_1x1 = nn.Conv2d(mid, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2_kxk(self.norm1(self.conv1_1x1(self.pre_norm(x)))))
        return self.shortcut(self.pool(x)) + self.conv3_1x1(self.se(y))


def mbconv_macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, expansion: int, kernel: int,
                se_ratio: float) -> int:
    """MACs of PreNormMBConv (the SE convs act on a 1x1 map)."""
    mid = out_ch * expansion
    n = down(h, stride) * down(w, stride)
    m = in_ch * mid * h * w + kernel * kernel * mid * n + mid * out_ch * n
    if in_ch != out_ch:
        m += in_ch * out_ch * n
    if se_ratio > 0:
        m += 2 * mid * max(1, int(out_ch * se_ratio))
    return m


class RelPosBias(nn.Module):
    """Learned relative position bias for a size x size window: a ((2s-1)^2, heads) table, looked up per pair."""

    def __init__(self, size: int, heads: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        index = (ys[:, None] - ys[None, :] + size - 1) * (2 * size - 1) + (xs[:, None] - xs[None, :] + size - 1)
        self.register_buffer("index", index, persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.index.shape[0]
        return self.table[self.index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)


class RelPosAttention(nn.Module):
    """Multi-head self-attention over (B, N, C) tokens of a size x size window with a relative position bias."""

    def __init__(self, dim: int, size: int, head_dim: int = 32, bias: bool = True) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = head_dim
        inner = self.heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=bias)
        self.rel_pos = RelPosBias(size, self.heads)
        self.proj = nn.Linear(inner, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.rel_pos().to(q.dtype))
        return self.proj(y.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


def rel_attention_macs(dim: int, head_dim: int, n: int, window_tokens: int) -> int:
    """qkv + the two attention matmuls inside windows of window_tokens + projection, over n tokens."""
    inner = heads_for(dim, head_dim) * head_dim
    return 4 * n * dim * inner + 2 * n * window_tokens * inner


class PartitionAttention(nn.Module):
    """Pre-norm window (``grid=False``) or grid attention on a channels-last map, then a pre-norm MLP."""

    def __init__(self, dim: int, window: int, grid: bool, head_dim: int = 32, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.window = window
        self.grid = grid
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = RelPosAttention(dim, window, head_dim)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def _partition(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        p = self.window
        if self.grid:  # token (i, j) of window (a, b) sits at (i * h/p + a, j * w/p + b): dilated
            x = x.reshape(b, p, h // p, p, w // p, c).permute(0, 2, 4, 1, 3, 5)
        else:  # contiguous p x p blocks
            x = x.reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, p * p, c)

    def _reverse(self, t: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
        p, c = self.window, t.shape[-1]
        t = t.reshape(b, h // p, w // p, p, p, c)
        if self.grid:
            return t.permute(0, 3, 1, 4, 2, 5).reshape(b, h, w, c)
        return t.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        x = x + self._reverse(self.attn(self._partition(self.norm1(x))), b, h, w)
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


def window_refusal(h: int, w: int, window: int) -> str | None:
    if h % window or w % window:
        return (f"window {window} must divide the {h}x{w} map (attention runs in {window}x{window} windows); "
                f"choose a window that divides it, or an input resolution that gives such maps (window 7 at "
                f"224 gives 56/28/14/7)")
    return None


@register_block("maxvit", role="body", family="maxvit", attention=True, can_stride=True, paper=PAPER,
                knobs={"expansion": int_knob(4, 1, 8, "MBConv expansion of the output width"),
                       "se_ratio": float_knob(0.25, 0.0, 0.5, "SE width / output width (0: no SE)"),
                       "window": int_knob(7, 1, 32, "block window and grid size"),
                       "head_dim": choice_knob(32, (16, 32, 64), "attention head width"),
                       "mlp_ratio": int_knob(4, 1, 8, "MLP expansion after each attention")})
class MaxViTBlock(nn.Module):
    """MBConv (+SE), then block attention + MLP, then grid attention + MLP, with relative position bias."""

    contract_maps = (8, 16)
    contract_knobs = {"window": 4}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, se_ratio: float = 0.25,
                 window: int = 7, head_dim: int = 32, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.conv = PreNormMBConv(in_ch, out_ch, stride, expansion, 3, se_ratio)
        self.attn_block = PartitionAttention(out_ch, window, False, head_dim, mlp_ratio)
        self.attn_grid = PartitionAttention(out_ch, window, True, head_dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).permute(0, 2, 3, 1)
        return self.attn_grid(self.attn_block(x)).permute(0, 3, 1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, se_ratio: float = 0.25,
             window: int = 7, head_dim: int = 32, mlp_ratio: int = 4, **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        attn = rel_attention_macs(out_ch, head_dim, n, window * window) + 2 * n * out_ch * out_ch * mlp_ratio
        return mbconv_macs(in_ch, out_ch, stride, h, w, expansion, 3, se_ratio) + 2 * attn

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, window: int = 7, **_: object) -> str | None:
        return window_refusal(down(h, stride), down(w, stride), window)


@register_block("maxvit_stem", role="stem", family="maxvit", paper=PAPER + "; MOAT uses it with exact GELU",
                knobs={"gelu": GELU_KNOB})
class MaxViTStem(nn.Module):
    """conv3x3 stride 2 (bias) + BN + GELU, then conv3x3 (bias): MaxViT's and MOAT's stem, reduction 2."""

    def __init__(self, in_ch: int, out_ch: int, gelu: str = "tanh") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 2, 1)
        self.norm1 = nn.Sequential(nn.BatchNorm2d(out_ch, eps=BN_EPS), make_gelu(gelu))
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.norm1(self.conv1(x)))

    @staticmethod
    def reduction(**_: object) -> int:
        return 2

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return 9 * (in_ch + out_ch) * out_ch * down(h, 2) * down(w, 2)


@register_block("maxvit_head", role="head", family="maxvit", paper=PAPER,
                knobs={"hidden": int_knob(0, 0, 8192, "pre-logits width (0: the input width, as MaxViT)")})
class MaxViTHead(nn.Module):
    """Global average pool, LayerNorm, pre-logits Linear + tanh, classifier Linear."""

    def __init__(self, in_ch: int, num_classes: int, hidden: int = 0) -> None:
        super().__init__()
        hid = hidden or in_ch
        self.norm = nn.LayerNorm(in_ch, eps=LN_EPS)
        self.pre_logits = nn.Sequential(nn.Linear(in_ch, hid), nn.Tanh())
        self.fc = nn.Linear(hid, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pre_logits(self.norm(x.mean((2, 3)))))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hidden: int = 0, **_: object) -> int:
        hid = hidden or in_ch
        return in_ch * hid + hid * out_ch
