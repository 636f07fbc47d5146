"""MossFormer2 mask-net pieces (Zhao et al., ICASSP 2024, "MossFormer2: Combining Transformer and RNN-Free
Recurrent Network for Enhanced Time-Domain Monaural Speech Separation", arXiv 2312.11825; official code
alibabasglab/MossFormer2 @5727f73, ``MossFormer2_standalone/model/utils/{Transformer,fsmn,conv_module,
normalization}.py`` and ``one_path_flash_fsmn.py``).

Facts carried over from the official code (every released config: width 512, 24 layers, chunk 250 in the
config but ``group_size`` 256 in the layers, query/key dim 128, expansion 4, ScaleNorm, token shift):

- ``FFConvM``: norm, linear (bias), SiLU, then x + depthwise conv k17 (no bias) of x; dropout left out.
- gated attention unit (``FLASH_ShareA_FFConvM``): token shift of the first half of the channels by one
  step; ``to_hidden`` FFConvM to 4x width split into v and u; ``to_qk`` FFConvM to 128; per-dim
  offset/scale (gamma ~ N(0, 0.02), beta 0) into quad_q, lin_q, quad_k, lin_k; partial rotary
  positions on the first min(32, qk) dims (interleaved pairs, theta 10^4, positions over the whole
  sequence); the sequence zero-padded to whole chunks of ``group_size``; quadratic attention inside
  each chunk, relu(q k^T / group_size)^2 applied to v and to u; global linear attention
  lin_q (lin_k^T v / n) (and u), summed with the quadratic part; out = (att_u * v) * sigmoid(att_v * u);
  x + ``to_out`` FFConvM (2x width -> width).
- RNN-free recurrent module (``Gated_FSMN_Block_Dilated``): 1x1 conv (bias) to 256 + PReLU, channel LN,
  gated FSMN (u and v FFConvMs with LayerNorm; u goes through a UniDeepFsmn_dilated: linear + ReLU,
  bias-free projection, a 2-layer dilated dense net of grouped convs k = 2 * 20 - 1, dilations 1 and 2,
  each followed by InstanceNorm (affine) and PReLU per channel, inputs concatenated densely; u + that;
  then v * u + input), channel LN, 1x1 conv (bias) back, plus the block input.
- mask-net front (``Dual_Path_Model``): GroupNorm(1, C), bias-free 1x1 conv, plus a sinusoid (sin | cos
  halves) over positions scaled by one learned scalar (init 1).

What differs: the official model shares one RotaryEmbedding (16 frozen frequencies, a Parameter) across
all layers; here each unit computes its rotary frequencies (no parameters). A chunk longer than the
sequence is cut to the sequence: the zero padding the official adds then contributes exactly nothing
(relu(0)^2 = 0 and padded keys/values are zero), and the divisor stays ``chunk`` as in the official.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj
from hynas.blocks.seq1d import LayerNorm1d, conv1d_macs, proj1d_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

MOSS_PAPER = ("MossFormer2 (Zhao et al., ICASSP 2024, arXiv 2312.11825); official alibabasglab/MossFormer2 "
              "@5727f73 MossFormer2_standalone/model/utils/Transformer.py")
SEQ = (1,)
ROTARY_DIMS = 32


class ScaleNorm(nn.Module):
    """x / (||x|| / sqrt(dim)) * g, one learned scalar g (MossFormer's default norm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale, self.eps = dim ** -0.5, eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t / (torch.linalg.vector_norm(t, dim=-1, keepdim=True) * self.scale).clamp(min=self.eps) * self.g


class FFConvM(nn.Module):
    """Norm, linear, SiLU, then a residual depthwise conv over the sequence: tokens (B, N, C)."""

    def __init__(self, dim_in: int, dim_out: int, kernel: int = 17, scale_norm: bool = True) -> None:
        super().__init__()
        self.norm = ScaleNorm(dim_in) if scale_norm else nn.LayerNorm(dim_in)
        self.linear = nn.Linear(dim_in, dim_out)
        self.dw = nn.Conv1d(dim_out, dim_out, kernel, 1, (kernel - 1) // 2, groups=dim_out, bias=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.linear(self.norm(t)))
        return y + self.dw(y.transpose(1, 2)).transpose(1, 2)


def ffconvm_macs(dim_in: int, dim_out: int, n: int, kernel: int) -> int:
    return n * dim_in * dim_out + kernel * dim_out * n


def rotary(t: torch.Tensor, dims: int) -> torch.Tensor:
    """Rotary positions (interleaved pairs, theta 1e4) on the first ``dims`` channels of (B, N, C)."""
    n = t.shape[1]
    freqs = 1.0 / (10000 ** (torch.arange(0, dims, 2, dtype=t.dtype, device=t.device) / dims))
    ang = torch.arange(n, dtype=t.dtype, device=t.device)[:, None] * freqs[None, :]
    cos = torch.stack([ang.cos(), ang.cos()], -1).reshape(n, dims)
    sin = torch.stack([ang.sin(), ang.sin()], -1).reshape(n, dims)
    rot, rest = t[..., :dims], t[..., dims:]
    pairs = rot.reshape(*rot.shape[:-1], dims // 2, 2)
    half = torch.stack([-pairs[..., 1], pairs[..., 0]], -1).reshape(rot.shape)
    return torch.cat([rot * cos + half * sin, rest], -1)


def chunk_size(n: int, chunk: int) -> int:
    """The chunk the quadratic part runs on: ``chunk``, or the whole sequence when it is shorter."""
    return min(chunk, n)


def padded_length(n: int, chunk: int) -> int:
    g = chunk_size(n, chunk)
    return (n + g - 1) // g * g  # ceil without negative floor division (exported graphs may trace it)


def mixed_attention(qq: torch.Tensor, qk: torch.Tensor, lq: torch.Tensor, lk: torch.Tensor, vals: torch.Tensor,
                    chunk: int) -> torch.Tensor:
    """Quadratic attention within chunks + global linear attention over (B, N, S) queries/keys, (B, N, E) values.

    relu(q k^T / chunk)^2 inside each chunk plus lin_q (lin_k^T v / N): the official cal_attention for one
    value tensor (the unit calls it on v and u concatenated, which is the same arithmetic).
    """
    b, n, _ = qq.shape
    g = chunk_size(n, chunk)
    pad = padded_length(n, chunk) - n
    if pad:
        qq, qk, lq, lk, vals = (F.pad(x, (0, 0, 0, pad)) for x in (qq, qk, lq, lk, vals))
    groups = (n + pad) // g
    qg, kg, vg = (x.reshape(b, groups, g, x.shape[-1]) for x in (qq, qk, vals))
    attn = F.relu(torch.matmul(qg, kg.transpose(-2, -1)) / chunk) ** 2
    quad = torch.matmul(attn, vg).reshape(b, n + pad, -1)
    lin = torch.matmul(lq, torch.matmul(lk.transpose(1, 2), vals) / n)
    return (quad + lin)[:, :n]


def mixed_attention_macs(n: int, qk_dim: int, value_dim: int, chunk: int) -> int:
    """q k^T and attn @ v per chunk, lin_k^T v and lin_q @ (.) over the padded sequence."""
    n_pad, g = padded_length(n, chunk), chunk_size(n, chunk)
    return n_pad * g * qk_dim + n_pad * g * value_dim + 2 * n_pad * qk_dim * value_dim


@register_block("mossformer_gau", role="body", family="mossformer", dims=SEQ, attention=True, paper=MOSS_PAPER,
                knobs={"qk_dim": choice_knob(128, (32, 64, 128, 256), "query/key width"),
                       "expansion": choice_knob(4, (2, 4), "hidden width / width (split into v and u)"),
                       "chunk": choice_knob(256, (8, 16, 32, 64, 128, 256), "quadratic-attention chunk"),
                       "kernel": choice_knob(17, (5, 9, 17), "depthwise kernel inside each FFConvM"),
                       "shift_tokens": bool_knob(True, "shift half the channels one step (token shift)"),
                       "rotary": bool_knob(True, "rotary positions on the first 32 query/key dims")})
class MossFormerGAU(nn.Module):
    """Gated attention unit: FFConvM projections, chunked quadratic + global linear attention, gated output."""

    contract_knobs = {"chunk": 8}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, qk_dim: int = 128, expansion: int = 4,
                 chunk: int = 256, kernel: int = 17, shift_tokens: bool = True, rotary: bool = True) -> None:
        super().__init__()
        d, half = out_ch, out_ch * expansion // 2
        self.chunk, self.shift, self.rotary_dims = chunk, shift_tokens, min(ROTARY_DIMS, qk_dim) if rotary else 0
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.to_hidden = FFConvM(d, 2 * half, kernel)
        self.to_qk = FFConvM(d, qk_dim, kernel)
        self.gamma = nn.Parameter(torch.randn(4, qk_dim) * 0.02)
        self.beta = nn.Parameter(torch.zeros(4, qk_dim))
        self.to_out = FFConvM(half, d, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.inp(x).transpose(1, 2)
        z = t
        if self.shift:
            a, rest = t.chunk(2, -1)
            z = torch.cat([torch.cat([torch.zeros_like(a[:, :1]), a[:, :-1]], 1), rest], -1)
        v, u = self.to_hidden(z).chunk(2, -1)
        qq, lq, qk, lk = (self.to_qk(z).unsqueeze(-2) * self.gamma + self.beta).unbind(-2)
        if self.rotary_dims:
            qq, lq, qk, lk = (rotary(q, self.rotary_dims) for q in (qq, lq, qk, lk))
        att_v, att_u = mixed_attention(qq, qk, lq, lk, torch.cat([v, u], -1), self.chunk).chunk(2, -1)
        out = (att_u * v) * torch.sigmoid(att_v * u)
        return (t + self.to_out(out)).transpose(1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, qk_dim: int = 128, expansion: int = 4,
             chunk: int = 256, kernel: int = 17, **_: object) -> int:
        n, d, half = h, out_ch, out_ch * expansion // 2
        m = proj1d_macs(in_ch, out_ch, stride, h) + ffconvm_macs(d, 2 * half, n, kernel)
        m += ffconvm_macs(d, qk_dim, n, kernel) + ffconvm_macs(half, d, n, kernel)
        return m + mixed_attention_macs(n, qk_dim, 2 * half, chunk)


class DilatedDense1d(nn.Module):
    """Dense stack of grouped dilated convs (k = 2 * lorder - 1, dilation 2^i), InstanceNorm, PReLU."""

    def __init__(self, dim: int, lorder: int = 20, depth: int = 2) -> None:
        super().__init__()
        k = 2 * lorder - 1
        self.convs = nn.ModuleList([nn.Conv1d(dim * (i + 1), dim, k, 1, (k - 1) // 2 * 2 ** i, dilation=2 ** i,
                                              groups=dim, bias=False) for i in range(depth)])
        self.norms = nn.ModuleList([nn.InstanceNorm1d(dim, affine=True) for _ in range(depth)])
        self.acts = nn.ModuleList([nn.PReLU(dim) for _ in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = out = x
        for conv, norm, act in zip(self.convs, self.norms, self.acts):
            out = act(norm(conv(skip)))
            skip = torch.cat([out, skip], 1)
        return out


@register_block("mossformer_fsmn", role="body", family="mossformer", dims=SEQ, paper=MOSS_PAPER,
                knobs={"inner": int_knob(256, 16, 2048, "width of the recurrent module"),
                       "lorder": choice_knob(20, (5, 10, 20), "memory order: kernel 2 * lorder - 1"),
                       "depth": int_knob(2, 1, 4, "dilated dense layers (dilations 1, 2, 4, ...)"),
                       "kernel": choice_knob(17, (5, 9, 17), "depthwise kernel inside the gate FFConvMs")})
class MossFormerFSMN(nn.Module):
    """RNN-free recurrent module: 1x1 conv + PReLU, LN, gated dilated FSMN (dense), LN, 1x1 conv; residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, inner: int = 256, lorder: int = 20,
                 depth: int = 2, kernel: int = 17) -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.conv1 = nn.Sequential(nn.Conv1d(out_ch, inner, 1), nn.PReLU())
        self.norm1 = LayerNorm1d(inner)
        self.to_u = FFConvM(inner, inner, kernel, scale_norm=False)
        self.to_v = FFConvM(inner, inner, kernel, scale_norm=False)
        self.linear = nn.Linear(inner, inner)
        self.project = nn.Linear(inner, inner, bias=False)
        self.memory = DilatedDense1d(inner, lorder, depth)
        self.norm2 = LayerNorm1d(inner)
        self.conv2 = nn.Conv1d(inner, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        t = self.norm1(self.conv1(x)).transpose(1, 2)
        u, v = self.to_u(t), self.to_v(t)
        f = self.project(F.relu(self.linear(u)))
        u = u + self.memory(f.transpose(1, 2)).transpose(1, 2)
        g = v * u + t
        return self.conv2(self.norm2(g.transpose(1, 2))) + x

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, inner: int = 256, lorder: int = 20,
             depth: int = 2, kernel: int = 17, **_: object) -> int:
        n, d = h, out_ch
        m = proj1d_macs(in_ch, out_ch, stride, h) + 2 * d * inner * n
        m += 2 * ffconvm_macs(inner, inner, n, kernel) + 2 * inner * inner * n
        return m + sum((i + 1) * (2 * lorder - 1) * inner * n for i in range(depth))


@register_block("mossformer_in", role="stem", family="mossformer", dims=SEQ, paper=MOSS_PAPER,
                knobs={"pos_emb": bool_knob(True, "scaled sinusoidal positions (one learned scale)")})
class MossFormerIn(nn.Module):
    """Mask-net front over encoder features: GroupNorm(1, C), bias-free 1x1 conv, scaled sinusoid positions."""

    def __init__(self, in_ch: int, out_ch: int, pos_emb: bool = True) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, in_ch, eps=1e-8)
        self.conv = nn.Conv1d(in_ch, out_ch, 1, bias=False)
        self.pos_scale = nn.Parameter(torch.ones(1)) if pos_emb else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.norm(x))
        if self.pos_scale is None:
            return x
        c, n = x.shape[1], x.shape[2]
        freqs = 1.0 / (10000 ** (torch.arange(0, c, 2, dtype=x.dtype, device=x.device) / c))
        ang = torch.arange(n, dtype=x.dtype, device=x.device)[:, None] * freqs[None, :]
        return x + (torch.cat([ang.sin(), ang.cos()], -1)[:, :c] * self.pos_scale).transpose(0, 1)

    @staticmethod
    def reduction(**_: object) -> int:
        return 1

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return conv1d_macs(in_ch, out_ch, 1, h)
