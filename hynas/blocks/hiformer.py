"""Interaction layers over feature-field tokens (N, C, F): Hiformer attention, DCN-V2 cross, token MLP.

A recommender's tokens are its fields (``hynas.blocks.fields``), and a field is not a position:
the user field and the price field mean different things, so the way field i attends to field
j may depend on the pair. Hiformer (Gui et al. 2023, arXiv 2311.05884) makes that explicit:

- ``hetero``: Q/K/V (and the output map) untied per field, Q_i = W_i^Q e_i, K_j = W_j^K e_j;
- ``composite``: one projection over the concatenation of all field tokens yields every
  field's Q/K/V (and one over all outputs), so each query already sees every field;
- ``rank`` r factorises each projection, Q/K/V and output (in x r, then r x out), to bring
  the serving cost down;
- ``queries`` k keeps only the first k fields' queries (Hiformer prunes its last layer to the
  task token's query); the other tokens pass through unchanged, so the map keeps F tokens.

The cheaper alternatives: a DCN-V2 cross layer (Wang et al. 2021) over the flattened tokens,
x_{l+1} = x_0 * (W x_l + b) + x_l with W optionally low rank, and an MLP-Mixer block
(Tolstikhin et al. 2021) whose token-mixing MLP runs across the fields. ``flatten_mlp`` is the
usual CTR head: concatenate every token, MLP, logits.

Per-field weights need the number of fields, so each block here takes it as the knob
``fields`` and ``check_map`` refuses a token count that differs. MACs count as fvcore does:
linears and matmuls (the per-field ones included) and the two attention matmuls.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACT_KNOB, ChannelProj, heads_for, make_act
from hynas.blocks.seq1d import proj1d_macs
from hynas.space.catalog import choice_knob, float_knob, int_knob

SEQ = (1,)
FIELDS_KNOB = int_knob(8, 1, 256, "number of field tokens (must equal the input's fields)")
RANK_KNOB = int_knob(0, 0, 4096, "rank of each projection (0 = full rank)")


def _fields_check(h: int, fields: int) -> str | None:
    if h != fields:
        return (f"knob 'fields' is {fields} but the input has {h} field tokens: per-field weights need "
                f"fields: {h}")
    return None


def _uniform(*shape: int) -> torch.Tensor:
    """nn.Linear's default init for a (.., fan_in, fan_out) weight."""
    bound = 1.0 / math.sqrt(shape[-2])
    return torch.empty(*shape).uniform_(-bound, bound)


class FieldLinear(nn.Module):
    """A separate linear map per field on (B, F, in) tokens; rank > 0 factorises each into in x r x out."""

    def __init__(self, fields: int, in_dim: int, out_dim: int, rank: int = 0) -> None:
        super().__init__()
        self.rank = rank
        if rank:
            self.down = nn.Parameter(_uniform(fields, in_dim, rank))
            self.up = nn.Parameter(_uniform(fields, rank, out_dim))
        else:
            self.weight = nn.Parameter(_uniform(fields, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(fields, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = t.unsqueeze(2)  # (B, F, 1, in) @ (F, in, out): one matmul per field, batched
        x = (x @ self.down) @ self.up if self.rank else x @ self.weight
        return x.squeeze(2) + self.bias


def _dense(in_dim: int, out_dim: int, rank: int) -> nn.Module:
    """One linear map, or its rank-r factorisation (no bias on the first factor)."""
    if rank:
        return nn.Sequential(nn.Linear(in_dim, rank, bias=False), nn.Linear(rank, out_dim))
    return nn.Linear(in_dim, out_dim)


def _proj_macs(rows: int, in_dim: int, out_dim: int, rank: int) -> int:
    return rows * (in_dim * rank + rank * out_dim if rank else in_dim * out_dim)


@register_block("hiformer_attn", role="body", family="hiformer", dims=SEQ, attention=True,
                paper="Hiformer heterogeneous / composite attention (Gui et al. 2023, arXiv 2311.05884)",
                knobs={"fields": FIELDS_KNOB,
                       "projection": choice_knob("composite", ("hetero", "composite"),
                                                 "Q/K/V per field, or one projection over all fields"),
                       "rank": RANK_KNOB,
                       "queries": int_knob(0, 0, 256, "keep only the first k fields' queries (0 = all)"),
                       "head_dim": choice_knob(16, (8, 16, 32, 64)), "mlp_ratio": int_knob(2, 1, 8),
                       "act": ACT_KNOB})
class HiformerAttention(nn.Module):
    """Pre-norm attention with field-specific (or composite) Q/K/V, then an MLP, over the kept queries."""

    contract_maps = (8, 8)  # per-field weights: one token count (the knob 'fields')

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, fields: int = 8, projection: str = "composite",
                 rank: int = 0, queries: int = 0, head_dim: int = 16, mlp_ratio: int = 2, act: str = "gelu") -> None:
        super().__init__()
        d, q = out_ch, queries or fields
        self.fields, self.q, self.composite = fields, q, projection == "composite"
        self.heads, self.head_dim = heads_for(d, head_dim), head_dim
        inner = self.heads * head_dim
        self.inp = ChannelProj(in_ch, out_ch, 1, dims=1)
        self.norm1 = nn.LayerNorm(d)
        if self.composite:
            self.wq, self.wo = _dense(fields * d, q * inner, rank), _dense(q * inner, q * d, rank)
            self.wk, self.wv = _dense(fields * d, fields * inner, rank), _dense(fields * d, fields * inner, rank)
        else:
            self.wq, self.wo = FieldLinear(q, d, inner, rank), FieldLinear(q, inner, d, rank)
            self.wk, self.wv = FieldLinear(fields, d, inner, rank), FieldLinear(fields, d, inner, rank)
        self.norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(d * mlp_ratio, d)

    def _attend(self, u: torch.Tensor) -> torch.Tensor:
        """(B, F, d) normalised tokens -> (B, q, d) attention outputs of the kept queries."""
        b, f, d = u.shape
        inner = self.heads * self.head_dim
        if self.composite:
            flat = u.reshape(b, f * d)
            q, k, v = self.wq(flat), self.wk(flat), self.wv(flat)
        else:
            q, k, v = self.wq(u[:, :self.q]), self.wk(u), self.wv(u)
        split = lambda z: z.reshape(b, -1, self.heads, self.head_dim).transpose(1, 2)
        y = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2)
        if self.composite:
            return self.wo(y.reshape(b, self.q * inner)).reshape(b, self.q, d)
        return self.wo(y.reshape(b, self.q, inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.inp(x).transpose(1, 2)
        kept = t[:, :self.q] + self._attend(self.norm1(t))
        kept = kept + self.fc2(self.act(self.fc1(self.norm2(kept))))
        return torch.cat([kept, t[:, self.q:]], 1).transpose(1, 2)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, fields: int = 8, queries: int = 0, **_: object) -> str | None:
        if queries > fields:
            return f"knob 'queries' is {queries}, more than the {fields} fields"
        return _fields_check(h, fields)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, fields: int = 8, projection: str = "composite",
             rank: int = 0, queries: int = 0, head_dim: int = 16, mlp_ratio: int = 2, **_: object) -> int:
        d, n, q = out_ch, h, queries or fields
        inner = heads_for(d, head_dim) * head_dim
        if projection == "composite":
            m = (_proj_macs(1, n * d, q * inner, rank) + 2 * _proj_macs(1, n * d, n * inner, rank)
                 + _proj_macs(1, q * inner, q * d, rank))
        else:
            m = _proj_macs(q, d, inner, rank) + 2 * _proj_macs(n, d, inner, rank) + _proj_macs(q, inner, d, rank)
        return proj1d_macs(in_ch, out_ch, 1, n) + m + 2 * q * n * inner + 2 * q * d * d * mlp_ratio


@register_block("dcn_cross", role="body", family="hiformer", dims=SEQ,
                paper="DCN-V2 cross layers (Wang et al. 2021) over the flattened field tokens",
                knobs={"fields": FIELDS_KNOB, "layers": int_knob(1, 1, 6, "cross layers, each x0 * (W x + b) + x"),
                       "rank": RANK_KNOB})
class CrossLayers(nn.Module):
    """x_{l+1} = x_0 * (W_l x_l + b_l) + x_l on all tokens concatenated (x_0 = the block's input)."""

    contract_maps = (8, 8)

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, fields: int = 8, layers: int = 1,
                 rank: int = 0) -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, 1, dims=1)
        self.maps = nn.ModuleList(_dense(fields * out_ch, fields * out_ch, rank) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x0 = x.flatten(1)
        xl = x0
        for m in self.maps:
            xl = x0 * m(xl) + xl
        return xl.reshape(x.shape)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, fields: int = 8, **_: object) -> str | None:
        return _fields_check(h, fields)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, layers: int = 1, rank: int = 0,
             **_: object) -> int:
        dim = h * out_ch
        return proj1d_macs(in_ch, out_ch, 1, h) + layers * _proj_macs(1, dim, dim, rank)


@register_block("token_mlp", role="body", family="hiformer", dims=SEQ,
                paper="MLP-Mixer block (Tolstikhin et al. 2021): token-mixing MLP across the fields, channel MLP",
                knobs={"fields": FIELDS_KNOB, "token_ratio": int_knob(2, 1, 8, "token-mixing hidden / fields"),
                       "mlp_ratio": int_knob(2, 1, 8), "act": ACT_KNOB})
class TokenMixer(nn.Module):
    """Pre-norm token-mixing MLP (across the F fields, per channel), then a channel MLP per token."""

    contract_maps = (8, 8)

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, fields: int = 8, token_ratio: int = 2,
                 mlp_ratio: int = 2, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, 1, dims=1)
        self.norm1 = nn.LayerNorm(out_ch)
        self.tok1 = nn.Linear(fields, fields * token_ratio)
        self.tok2 = nn.Linear(fields * token_ratio, fields)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.inp(x).transpose(1, 2)  # (B, F, C)
        t = t + self.tok2(self.act(self.tok1(self.norm1(t).transpose(1, 2)))).transpose(1, 2)
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, fields: int = 8, **_: object) -> str | None:
        return _fields_check(h, fields)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, token_ratio: int = 2, mlp_ratio: int = 2,
             **_: object) -> int:
        return proj1d_macs(in_ch, out_ch, 1, h) + 2 * out_ch * h * h * token_ratio + 2 * h * out_ch ** 2 * mlp_ratio


@register_block("flatten_mlp", role="head", family="hiformer", dims=SEQ,
                paper="the CTR head of DCN-V2 / Hiformer: concatenate all field tokens, MLP, logits",
                knobs={"fields": FIELDS_KNOB, "hidden": int_knob(256, 8, 4096, "MLP width"),
                       "layers": int_knob(1, 1, 4, "hidden layers"), "dropout": float_knob(0.0, 0.0, 0.9),
                       "act": choice_knob("relu", ("relu", "gelu", "silu"))})
class FlattenMLPHead(nn.Module):
    """Every token's channels concatenated (F x C), an MLP of ``layers`` hidden layers, then the logits."""

    contract_maps = (8, 8)

    def __init__(self, in_ch: int, num_classes: int, fields: int = 8, hidden: int = 256, layers: int = 1,
                 dropout: float = 0.0, act: str = "relu") -> None:
        super().__init__()
        mods: list[nn.Module] = []
        width = fields * in_ch
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), make_act(act)]
            width = hidden
        self.mlp = nn.Sequential(*mods, nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.flatten(1))

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, fields: int = 8, **_: object) -> str | None:
        return _fields_check(h, fields)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hidden: int = 256, layers: int = 1,
             **_: object) -> int:
        return h * in_ch * hidden + (layers - 1) * hidden * hidden + hidden * out_ch
