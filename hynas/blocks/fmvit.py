"""FMViT (Tan, Geng & Xie 2023, "FMViT: A multiple-frequency mixing Vision Transformer",
arXiv 2311.05707). No official code exists (github.com/tany0699/FMViT holds only a README),
so these blocks follow the paper's description, and where the text we could read stops,
our reading of it (marked "hynas reading" below).

What the paper states (abstract and method overview): a hybrid that mixes high-frequency
(local, convolutional) and low-frequency (global, attention) features "with varying
frequencies" in one block; deploy-friendly parts: convolutional multi-group
re-parameterisation (gMLP: parallel multi-group convs merged into one conv for inference),
a lightweight multi-head self-attention (RLMHSA) and a convolutional fusion block (CFB);
layouts interleave conv blocks and mixing blocks as Next-ViT does (NCB/NTB).

hynas reading: gMLP = an MLP whose two 1x1 convs are each a ``RepGroupConv1x1`` (branches
with 1, 2, 4... groups, each + BatchNorm, summed; one dense conv deployed); RLMHSA = MHSA on
the map whose keys and values share one projection of an average-pooled map (the pooling
sets the "frequency"); FMB (the mixing block) = a 3x3 grouped-conv branch (high frequency)
and RLMHSA branches at pooling p, 2p, 4p... (lower frequencies) concatenated and fused by a
re-parameterisable 1x1 conv, then a gMLP; CFB = Next-ViT-NCB-like: grouped 3x3 conv + BN +
ReLU + 1x1 conv, then a gMLP. Residuals around each half, BatchNorm as pre-norm (foldable).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, down, heads_for, make_act, proj_macs
from hynas.blocks.reparam import RepGroupConv1x1
from hynas.space.catalog import choice_knob, int_knob

FMVIT_PAPER = ("FMViT (Tan, Geng & Xie 2023, arXiv 2311.05707), from the paper's description: no official code "
               "(github.com/tany0699/FMViT has only a README)")
GROUPS_KNOB = choice_knob(4, (1, 2, 4), "largest group count of the re-parameterised multi-group branches")
ACT = choice_knob("relu", ("relu", "gelu"), "activation (ReLU: TensorRT/CoreML friendly)")


def group_counts(max_groups: int) -> tuple[int, ...]:
    """Group counts 1, 2, 4, ... up to max_groups (the gMLP branches)."""
    out, g = [], 1
    while g <= max_groups:
        out.append(g)
        g *= 2
    return tuple(out)


class GroupMlp(nn.Module):
    """gMLP: 1x1 expand + activation + 1x1 project, both convs multi-group re-parameterisable."""

    def __init__(self, dim: int, hidden: int, act: str, max_groups: int) -> None:
        super().__init__()
        self.fc1 = RepGroupConv1x1(dim, hidden, group_counts(max_groups))
        self.act = make_act(act)
        self.fc2 = RepGroupConv1x1(hidden, dim, group_counts(max_groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class GroupConvMixer(nn.Module):
    """Local (high-frequency) mixing: grouped 3x3 conv (head_dim channels a group) + BN + ReLU + 1x1 conv."""

    def __init__(self, dim: int, head_dim: int) -> None:
        super().__init__()
        groups = heads_for(dim, head_dim) if dim % heads_for(dim, head_dim) == 0 else 1
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(dim)
        self.act = nn.ReLU()
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.bn(self.conv(x))))


def mixer_macs(dim: int, head_dim: int, n: int) -> int:
    groups = heads_for(dim, head_dim) if dim % heads_for(dim, head_dim) == 0 else 1
    return 9 * (dim // groups) * dim * n + dim * dim * n


class LightAttention(nn.Module):
    """RLMHSA (hynas reading): MHSA on the map, keys = values from one projection of a pooled map."""

    def __init__(self, dim: int, head_dim: int, pool: int) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = dim // self.heads
        inner = self.heads * self.head_dim
        self.pool = nn.AvgPool2d(pool, pool, ceil_mode=True, count_include_pad=False) if pool > 1 else nn.Identity()
        self.q = nn.Conv2d(dim, inner, 1)
        self.kv = nn.Conv2d(dim, inner, 1)
        self.proj = nn.Conv2d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.q(x).reshape(b, self.heads, self.head_dim, h * w).transpose(-2, -1)
        kv = self.kv(self.pool(x)).reshape(b, self.heads, self.head_dim, -1).transpose(-2, -1)
        y = F.scaled_dot_product_attention(q, kv, kv)
        return self.proj(y.transpose(-2, -1).reshape(b, self.heads * self.head_dim, h, w))


def light_attention_macs(dim: int, head_dim: int, h: int, w: int, pool: int) -> int:
    heads = heads_for(dim, head_dim)
    inner = heads * (dim // heads)
    n, m = h * w, down(h, pool) * down(w, pool)
    return n * dim * inner + m * dim * inner + 2 * n * m * inner + n * inner * dim


@register_block("fmvit_cfb", role="body", family="fmvit", can_stride=True, paper=FMVIT_PAPER,
                knobs={"head_dim": choice_knob(32, (16, 32), "channels per group of the 3x3 conv"),
                       "mlp_ratio": int_knob(3, 1, 8), "rep_groups": GROUPS_KNOB, "act": ACT})
class FMViTConvBlock(nn.Module):
    """CFB: residual grouped-conv mixer, then a residual re-parameterisable multi-group MLP (gMLP)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 3,
                 rep_groups: int = 4, act: str = "relu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.mixer = GroupConvMixer(out_ch, head_dim)
        self.norm = nn.BatchNorm2d(out_ch)
        self.mlp = GroupMlp(out_ch, out_ch * mlp_ratio, act, rep_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = x + self.mixer(x)
        return x + self.mlp(self.norm(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 3,
             **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        return proj_macs(in_ch, out_ch, stride, h, w) + mixer_macs(out_ch, head_dim, n) + 2 * n * out_ch ** 2 * mlp_ratio


@register_block("fmvit_fmb", role="body", family="fmvit", attention=True, can_stride=True, paper=FMVIT_PAPER,
                knobs={"head_dim": choice_knob(32, (16, 32)), "mlp_ratio": int_knob(2, 1, 8),
                       "low_branches": int_knob(2, 1, 3, "RLMHSA branches at pooling p, 2p, 4p..."),
                       "pool": int_knob(2, 1, 8, "k/v pooling of the first RLMHSA branch"),
                       "rep_groups": GROUPS_KNOB, "act": ACT})
class FMViTMixBlock(nn.Module):
    """FMB: high-frequency conv branch + low-frequency RLMHSA branches, concatenated and fused; then gMLP."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 2,
                 low_branches: int = 2, pool: int = 2, rep_groups: int = 4, act: str = "relu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm1 = nn.BatchNorm2d(out_ch)
        self.high = GroupConvMixer(out_ch, head_dim)
        self.lows = nn.ModuleList(LightAttention(out_ch, head_dim, pool * 2 ** i) for i in range(low_branches))
        self.fuse = RepGroupConv1x1((1 + low_branches) * out_ch, out_ch, group_counts(rep_groups))
        self.norm2 = nn.BatchNorm2d(out_ch)
        self.mlp = GroupMlp(out_ch, out_ch * mlp_ratio, act, rep_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        y = self.norm1(x)
        x = x + self.fuse(torch.cat([self.high(y)] + [attn(y) for attn in self.lows], 1))
        return x + self.mlp(self.norm2(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 2,
             low_branches: int = 2, pool: int = 2, **_: object) -> int:
        h2, w2 = down(h, stride), down(w, stride)
        n, c = h2 * w2, out_ch
        m = proj_macs(in_ch, out_ch, stride, h, w) + mixer_macs(c, head_dim, n)
        m += sum(light_attention_macs(c, head_dim, h2, w2, pool * 2 ** i) for i in range(low_branches))
        return m + (1 + low_branches) * c * c * n + 2 * n * c * c * mlp_ratio

