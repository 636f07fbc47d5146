"""ConViT (d'Ascoli et al. 2021, "ConViT: Improving Vision Transformers with Soft
Convolutional Inductive Biases"; official code facebookresearch/convit, ``convit.py``).

Facts carried over from the official code: a ViT patch-16 embedding (biased conv) plus a
learned absolute position embedding; gated positional self-attention (GPSA) mixes a
content softmax and a positional softmax, ``(1 - sigmoid(g)) * content + sigmoid(g) *
position`` per head, with gates ``g`` initialised to 1, the positional scores a
``Linear(3, heads)`` of each token pair's (dx, dy, dx^2 + dy^2) and, for the locality
initialisation, v set to the identity and head i of a sqrt(heads) x sqrt(heads) grid made
to attend around its own offset; q, k, v without bias; plain MHSA blocks after
``local_up_to_layer`` (10 in ConViT-Ti), where the class token is inserted; width = 48 per
head (Ti: 4 heads, 192 channels), MLP ratio 4. In hynas the switch is two pattern segments
(``gpsa`` then ``convit_mhsa``) and the token is created by ``HybridNet`` where the first
``convit_mhsa`` block asks for it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACT_KNOB, ChannelProj, conv_macs, down, heads_for, make_act, proj_macs
from hynas.blocks.cvt import KEEP_KNOB, keep_index, kept_tokens, pick_tokens, put_tokens
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob

CONVIT_PAPER = "ConViT (d'Ascoli et al. 2021), github.com/facebookresearch/convit convit.py"


@register_block("pos_patch_stem", role="stem", family="convit", paper=CONVIT_PAPER + "; ViT (Dosovitskiy et al. 2021)",
                knobs={"patch": choice_knob(16, (4, 8, 14, 16)),
                       "pos_grid": int_knob(14, 0, 64, "learned absolute position embedding on a grid this size "
                                                       "(0 = none), resized bicubically to other maps")})
class PosPatchStem(nn.Module):
    """ViT patch embedding (conv kernel = stride = patch, with bias) plus a learned position embedding."""

    def __init__(self, in_ch: int, out_ch: int, patch: int = 16, pos_grid: int = 14) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, patch, patch)
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, out_ch, pos_grid, pos_grid), std=0.02)) \
            if pos_grid else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if self.pos_embed is None:
            return x
        pos = self.pos_embed
        if pos.shape[-2:] != x.shape[-2:]:
            pos = F.interpolate(pos, size=x.shape[-2:], mode="bicubic", align_corners=False)
        return x + pos

    @staticmethod
    def reduction(patch: int = 16, **_: object) -> int:
        return patch

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, patch: int = 16, **_: object) -> int:
        return conv_macs(in_ch, out_ch, patch, h // patch, w // patch)

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, patch: int = 16, **_: object) -> str | None:
        return None if h % patch == 0 and w % patch == 0 else f"patch {patch} does not divide the {h}x{w} input"


def relative_positions(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(1, N, N, 3) of (dx, dy, dx^2 + dy^2) between tokens of an h x w map, row-major (ConViT's rel_indices)."""
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    dx = (cols[None, :] - cols[:, None]).float()
    dy = (rows[None, :] - rows[:, None]).float()
    return torch.stack([dx, dy, dx * dx + dy * dy], -1).unsqueeze(0)


class GatedPositionalAttention(nn.Module):
    """GPSA: per-head gated mix of content attention and learned positional attention."""

    def __init__(self, dim: int, head_dim: int, qkv_bias: bool, locality_strength: float) -> None:
        super().__init__()
        self.heads = heads_for(dim, head_dim)
        self.head_dim = dim // self.heads
        inner = self.heads * self.head_dim
        self.qk = nn.Linear(dim, 2 * inner, bias=qkv_bias)
        self.v = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.pos_proj = nn.Linear(3, self.heads)
        self.gating_param = nn.Parameter(torch.ones(self.heads))
        self._local_init(locality_strength)

    @torch.no_grad()
    def _local_init(self, strength: float) -> None:
        """Start as a convolution: v = identity, head (i, j) of a k x k grid peaks at offset (i, j) - centre."""
        self.v.weight.copy_(torch.eye(*self.v.weight.shape))
        self.pos_proj.bias.zero_()
        k = int(self.heads ** 0.5)
        centre = (k - 1) / 2 if k % 2 == 0 else k // 2
        for h1 in range(k):
            for h2 in range(k):
                head = h1 + k * h2
                self.pos_proj.weight[head] = torch.tensor([2 * (h2 - centre), 2 * (h1 - centre), -1.0])
        self.pos_proj.weight.mul_(strength)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, t: torch.Tensor, h: int, w: int, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Output for the kept tokens (all when idx is None); every token is a key and a value."""
        b, n, _ = t.shape
        inner = self.heads * self.head_dim
        if idx is None:  # one fused projection when every token is a query
            q, k = self.qk(t).reshape(b, n, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        else:
            b_q, b_k = (None, None) if self.qk.bias is None else (self.qk.bias[:inner], self.qk.bias[inner:])
            q = self._heads(F.linear(pick_tokens(t, idx, 0), self.qk.weight[:inner], b_q))
            k = self._heads(F.linear(t, self.qk.weight[inner:], b_k))
        v = self._heads(self.v(t))
        content = ((q @ k.transpose(-2, -1)) * self.head_dim ** -0.5).softmax(-1)
        position = self.pos_proj(relative_positions(h, w, t.device)).permute(0, 3, 1, 2).softmax(-1)
        if idx is not None:
            rows = idx[:, None, :, None].expand(-1, self.heads, -1, n)
            position = position.expand(b, -1, -1, -1).gather(2, rows)
        gate = torch.sigmoid(self.gating_param).view(1, -1, 1, 1)
        attn = (1.0 - gate) * content + gate * position
        attn = attn / attn.sum(-1, keepdim=True)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, q.shape[2], inner))


def _tokens_mlp_macs(n: int, c: int, mlp_ratio: int) -> int:
    return 2 * n * c * c * mlp_ratio


@register_block("gpsa", role="body", family="convit", attention=True, paper=CONVIT_PAPER,
                knobs={"head_dim": choice_knob(48, (32, 48, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(False), "act": ACT_KNOB, "keep_ratio": KEEP_KNOB,
                       "locality_strength": float_knob(1.0, 0.0, 10.0, "scale of the locality initialisation")})
class GPSABlock(nn.Module):
    """Pre-norm transformer block with gated positional self-attention (ConViT's local layers)."""

    contract_knobs = {"keep_ratio": 0.5}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 48, mlp_ratio: int = 4,
                 qkv_bias: bool = False, act: str = "gelu", keep_ratio: float = 1.0,
                 locality_strength: float = 1.0) -> None:
        super().__init__()
        self.keep_ratio = keep_ratio
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.norm1 = nn.LayerNorm(out_ch)
        self.attn = GatedPositionalAttention(out_ch, head_dim, qkv_bias, locality_strength)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        idx = keep_index(t, self.keep_ratio)
        sel = pick_tokens(t, idx, 0) + self.attn(self.norm1(t), h, w, idx)
        sel = sel + self.fc2(self.act(self.fc1(self.norm2(sel))))
        return put_tokens(t, sel, idx, 0).transpose(1, 2).reshape(b, c, h, w)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 48, mlp_ratio: int = 4,
             keep_ratio: float = 1.0, **_: object) -> int:
        n, c = down(h, stride) * down(w, stride), out_ch
        nq = kept_tokens(n, keep_ratio)
        heads = heads_for(c, head_dim)
        inner = heads * (c // heads)
        m = proj_macs(in_ch, out_ch, stride, h, w) + (nq + 2 * n) * c * inner + nq * inner * c  # q, k, v, out
        m += 2 * nq * n * inner + n * n * 3 * heads  # q @ k^T, attn @ v, positional scores
        return m + _tokens_mlp_macs(nq, c, mlp_ratio)


@register_block("convit_mhsa", role="body", family="convit", attention=True, paper=CONVIT_PAPER,
                knobs={"head_dim": choice_knob(48, (32, 48, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(False), "act": ACT_KNOB, "keep_ratio": KEEP_KNOB})
class ConViTMHSABlock(nn.Module):
    """Pre-norm MHSA block over the map tokens plus a class token (ConViT's last layers).

    The network calls it ``x, cls = block(x, cls)`` (see ``HybridNet``); called alone with a
    map it attends with a zero class token, so its cost is the same.
    """

    uses_cls = True
    contract_knobs = {"keep_ratio": 0.5}

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 48, mlp_ratio: int = 4,
                 qkv_bias: bool = False, act: str = "gelu", keep_ratio: float = 1.0) -> None:
        super().__init__()
        self.cls_in_ch = in_ch
        self.keep_ratio = keep_ratio
        self.heads = heads_for(out_ch, head_dim)
        self.head_dim = out_ch // self.heads
        inner = self.heads * self.head_dim
        self.inp = ChannelProj(in_ch, out_ch, stride)
        self.cls_proj = nn.Linear(in_ch, out_ch) if in_ch != out_ch else nn.Identity()
        self.norm1 = nn.LayerNorm(out_ch)
        self.qkv = nn.Linear(out_ch, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, out_ch)
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def _attend(self, t: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
        """Output for the class token and the kept map tokens; every token is a key and a value."""
        if idx is None:
            b, n, _ = t.shape
            q, k, v = self.qkv(t).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        else:
            inner = self.heads * self.head_dim
            bias = self.qkv.bias
            q = F.linear(pick_tokens(t, idx, 1), self.qkv.weight[:inner], None if bias is None else bias[:inner])
            kv = F.linear(t, self.qkv.weight[inner:], None if bias is None else bias[inner:])
            q = q.reshape(q.shape[0], q.shape[1], self.heads, self.head_dim).transpose(1, 2)
            k, v = kv.reshape(t.shape[0], t.shape[1], 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(y.shape[0], y.shape[2], self.heads * self.head_dim))

    def forward(self, x: torch.Tensor, cls: torch.Tensor | None = None):
        alone = cls is None
        if alone:
            cls = x.new_zeros(x.shape[0], 1, x.shape[1])
        x = self.inp(x)
        b, c, h, w = x.shape
        t = torch.cat([self.cls_proj(cls), x.flatten(2).transpose(1, 2)], 1)
        idx = keep_index(t[:, 1:], self.keep_ratio)
        sel = pick_tokens(t, idx, 1) + self._attend(self.norm1(t), idx)
        sel = sel + self.fc2(self.act(self.fc1(self.norm2(sel))))
        t = put_tokens(t, sel, idx, 1)
        x = t[:, 1:].transpose(1, 2).reshape(b, c, h, w)
        return x if alone else (x, t[:, :1])

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 48, mlp_ratio: int = 4,
             keep_ratio: float = 1.0, **_: object) -> int:
        n, c = down(h, stride) * down(w, stride), out_ch
        nq = kept_tokens(n, keep_ratio) + 1  # the class token is always kept
        n += 1
        heads = heads_for(c, head_dim)
        inner = heads * (c // heads)
        m = proj_macs(in_ch, out_ch, stride, h, w) + (in_ch * out_ch if in_ch != out_ch else 0)
        m += (2 * nq + 2 * n) * c * inner + 2 * nq * n * inner  # q, out; k, v; q @ k^T, attn @ v
        return m + _tokens_mlp_macs(nq, c, mlp_ratio)
