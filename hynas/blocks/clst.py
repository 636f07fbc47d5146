"""ClST pieces (Hou, Li, Lin, Liang, Han, "ClST: A Convolutional Transformer Framework for Automatic
Modulation Recognition by Knowledge Distillation", IEEE TWC 23(7):8013-8028, 2024, arXiv 2312.17446).

What the sources reachable here give (the arXiv abstract, via ar5iv.labs.arxiv.org/html/2312.17446 and
sciencestack.ai/paper/2312.17446; no official code was found: find_repos "ClST", code/docs/pages search):
a hierarchy of transformer stages containing convolution (CvT-like), a convolutional token embedding, a
"convolution-transformer projection" (CTP) block that uses a convolutional projection for attention, and a
"parallel spatial-channel attention" (PSCA). Layer counts, widths, heads, kernels and the exact PSCA
definition are not in those sources, so the blocks below take the CvT forms (Wu et al. 2021,
leoxiaobin/CvT, over 1-D tokens) and the parallel form of CBAM's two gates (Woo et al. 2018), with
those choices as knobs:

- ``clst_embed``: overlapping stride-2 conv (bias) + LayerNorm: CvT's convolutional token embedding.
- ``clst_ctp``: pre-LN transformer block whose q, k, v are depthwise conv (no bias) + BatchNorm
  projections of the token sequence (k and v optionally strided), each followed by a linear; MLP.
- ``clst_psca``: channel gate (mean over the length -> reduce -> act -> expand -> sigmoid) and spatial
  gate (mean and max over channels -> conv k -> sigmoid) computed in parallel and summed as
  x * channel + x * spatial, as a residual token mixer after BatchNorm, then an optional MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACT_KNOB, ChannelProj, down, heads_for, make_act
from hynas.blocks.seq1d import LayerNorm1d, conv1d_macs, proj1d_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

CLST_PAPER = ("ClST (Hou et al., IEEE TWC 2024, arXiv 2312.17446); conv projections after CvT "
              "(Wu et al. 2021, leoxiaobin/CvT)")
SEQ = (1,)


@register_block("clst_embed", role="downsample", family="clst", dims=SEQ, paper=CLST_PAPER,
                knobs={"kernel": choice_knob(3, (3, 5, 7), "overlapping stride-2 conv kernel")})
class ClSTEmbed(nn.Module):
    """Convolutional token embedding between stages: overlapping stride-2 conv (bias) + LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv1d(in_ch, out_ch, kernel, 2, kernel // 2)
        self.norm = LayerNorm1d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, **_: object) -> int:
        return conv1d_macs(in_ch, out_ch, kernel, down(h, 2))


class DwBN1d(nn.Sequential):
    """Depthwise conv (no bias, 'same' padding, optional stride) + BatchNorm: a convolutional projection."""

    def __init__(self, dim: int, kernel: int, stride: int) -> None:
        super().__init__(nn.Conv1d(dim, dim, kernel, stride, kernel // 2, groups=dim, bias=False),
                         nn.BatchNorm1d(dim))


class ConvProjAttention1d(nn.Module):
    """Multi-head attention over (B, C, N) whose q, k, v come from depthwise-conv projections + linears."""

    def __init__(self, dim: int, head_dim: int, kernel: int, kv_stride: int, qkv_bias: bool) -> None:
        super().__init__()
        self.heads, self.head_dim = heads_for(dim, head_dim), head_dim
        inner = self.heads * head_dim
        self.conv_q, self.conv_k, self.conv_v = DwBN1d(dim, kernel, 1), DwBN1d(dim, kernel, kv_stride), \
            DwBN1d(dim, kernel, kv_stride)
        self.proj_q = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj_k = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj_v = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, n = x.shape
        q = self._heads(self.proj_q(self.conv_q(x).transpose(1, 2)))
        k = self._heads(self.proj_k(self.conv_k(x).transpose(1, 2)))
        v = self._heads(self.proj_v(self.conv_v(x).transpose(1, 2)))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


def ctp_attention_macs(dim: int, head_dim: int, n: int, kernel: int, kv_stride: int) -> int:
    """Depthwise q/k/v convs, the three linears, q@k^T and attn@v over m = ceil(n / kv_stride) keys, output."""
    inner, m = heads_for(dim, head_dim) * head_dim, down(n, kv_stride)
    convs = kernel * dim * (n + 2 * m)
    return convs + dim * inner * (n + 2 * m) + 2 * n * m * inner + n * inner * dim


@register_block("clst_ctp", role="body", family="clst", dims=SEQ, attention=True, can_stride=True,
                paper=CLST_PAPER,
                knobs={"head_dim": choice_knob(32, (8, 16, 32, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "kernel": choice_knob(3, (3, 5, 7), "depthwise kernel of the q/k/v projections"),
                       "kv_stride": choice_knob(2, (1, 2), "stride of the k/v projections"),
                       "qkv_bias": bool_knob(True), "act": ACT_KNOB})
class ClSTConvTransformer(nn.Module):
    """Convolution-transformer projection block: pre-LN conv-projection attention + pre-LN MLP, residuals."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 kernel: int = 3, kv_stride: int = 2, qkv_bias: bool = True, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.norm1 = LayerNorm1d(out_ch)
        self.attn = ConvProjAttention1d(out_ch, head_dim, kernel, kv_stride, qkv_bias)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        t = x.transpose(1, 2) + self.attn(self.norm1(x))
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 4,
             kernel: int = 3, kv_stride: int = 2, **_: object) -> int:
        n = down(h, stride)
        m = proj1d_macs(in_ch, out_ch, stride, h) + ctp_attention_macs(out_ch, head_dim, n, kernel, kv_stride)
        return m + 2 * n * out_ch * out_ch * mlp_ratio


class PSCA1d(nn.Module):
    """Parallel spatial-channel attention over (B, C, N): x * channel gate + x * spatial gate."""

    def __init__(self, dim: int, reduction: int, kernel: int, act: str) -> None:
        super().__init__()
        hid = max(1, dim // reduction)
        self.reduce = nn.Linear(dim, hid)
        self.act = make_act(act)
        self.expand = nn.Linear(hid, dim)
        self.spatial = nn.Conv1d(2, 1, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ch = torch.sigmoid(self.expand(self.act(self.reduce(x.mean(2))))).unsqueeze(-1)
        sp = torch.sigmoid(self.spatial(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)))
        return x * ch + x * sp


@register_block("clst_psca", role="body", family="clst", dims=SEQ, can_stride=True, paper=CLST_PAPER,
                knobs={"reduction": choice_knob(4, (2, 4, 8, 16), "channel-gate squeeze ratio"),
                       "kernel": choice_knob(7, (3, 5, 7, 9), "spatial-gate conv kernel"),
                       "mlp_ratio": int_knob(2, 0, 8, "pointwise MLP after the attention (0 = none)"),
                       "act": ACT_KNOB})
class ClSTPSCA(nn.Module):
    """BatchNorm, parallel spatial-channel attention, residual; then BatchNorm, pointwise MLP, residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, reduction: int = 4, kernel: int = 7,
                 mlp_ratio: int = 2, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.norm1 = nn.BatchNorm1d(out_ch)
        self.psca = PSCA1d(out_ch, reduction, kernel, act)
        self.mlp = nn.Sequential(nn.BatchNorm1d(out_ch), nn.Conv1d(out_ch, out_ch * mlp_ratio, 1), make_act(act),
                                 nn.Conv1d(out_ch * mlp_ratio, out_ch, 1)) if mlp_ratio else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = x + self.psca(self.norm1(x))
        return x + self.mlp(x) if self.mlp is not None else x

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, reduction: int = 4, kernel: int = 7,
             mlp_ratio: int = 2, **_: object) -> int:
        n, d = down(h, stride), out_ch
        m = proj1d_macs(in_ch, out_ch, stride, h) + 2 * d * max(1, d // reduction) + conv1d_macs(2, 1, kernel, n)
        return m + 2 * n * d * d * mlp_ratio
