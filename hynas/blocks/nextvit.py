"""Next-ViT blocks (Li et al. 2022, "Next-ViT: Next Generation Vision Transformer for Efficient
Deployment in Realistic Industrial Scenarios"; github.com/bytedance/Next-ViT).

Facts taken from the official ``classification/nextvit.py`` (the param layout must match it
for the reference model to count exactly):

- every norm is BatchNorm (eps 1e-5), every activation ReLU;
- a block starts with a PatchEmbed: 2x2 average pool (when striding) then 1x1 conv + BN,
  present whenever the block strides or changes width;
- MHCA is a grouped 3x3 conv (one group per 32-wide head) + BN + ReLU + 1x1 projection,
  all convs without bias;
- the MLP is two biased 1x1 convs, hidden width rounded to a multiple of 32
  (``_make_divisible``); NCB uses ratio 3, NTB ratio 2, each behind a pre-norm BN;
- NTB splits its output: ``make_divisible(out * 0.75, 32)`` channels go through E-MHSA
  (biased q/k/v/proj linears; keys and values from tokens average-pooled by ``sr_ratio**2``
  along the flattened sequence, then BatchNorm1d), the rest through a 1x1 projection and an
  MHCA; both halves are concatenated before the MLP. Here the pooling keeps a partial last
  window (ceil mode) so small maps in a search never lose their keys; on maps whose token
  count sr_ratio**2 divides (all of Next-ViT at 224) it is the official pooling;
- the stem is four conv3x3+BN+ReLU with widths (64, 32, 64, 64), strides (2, 1, 1, 2);
- the head is BN, global average pool, linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import down
from hynas.space.catalog import choice_knob, int_knob

PAPER = "Next-ViT (Li et al. 2022), github.com/bytedance/Next-ViT"
HEAD_DIM_KNOB = choice_knob(32, (8, 16, 32, 64), "channels per MHCA group / E-MHSA head")


def _make_divisible(v: float, divisor: int) -> int:
    """Round to the nearest multiple of divisor, never more than 10% below v (MobileNet rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _groups(channels: int, head_dim: int) -> int:
    """Heads (groups) for a width: channels // head_dim, lowered until it divides the width."""
    g = max(1, channels // head_dim)
    while channels % g:
        g -= 1
    return g


def bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) an eval-mode BatchNorm applies."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def fold_pre_affine(layer: nn.Module, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """Fold a per-input-channel affine map applied *before* a 1x1 conv or linear into its weight and bias."""
    with torch.no_grad():  # not a decorator: the exporter drops decorators when it copies this source
        extra = layer.weight.reshape(layer.weight.shape[0], -1) @ shift
        layer.weight.mul_(scale.reshape((1, -1) + (1,) * (layer.weight.dim() - 2)))
        if layer.bias is None:
            layer.bias = nn.Parameter(extra)
        else:
            layer.bias.add_(extra)


class NextPatchEmbed(nn.Module):
    """Avg-pool 2x2 (stride 2) then 1x1 conv + BN; identity when neither striding nor widening."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.avgpool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride == 2 else nn.Identity()
        needs = stride == 2 or in_ch != out_ch
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False) if needs else nn.Identity()
        self.norm = nn.BatchNorm2d(out_ch) if needs else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.avgpool(x)))


def embed_macs(in_ch: int, out_ch: int, stride: int, h: int, w: int) -> int:
    return in_ch * out_ch * down(h, stride) * down(w, stride) if stride == 2 or in_ch != out_ch else 0


class MHCA(nn.Module):
    """Multi-head convolutional attention: grouped 3x3 conv (a group per head), BN, ReLU, 1x1 conv."""

    def __init__(self, channels: int, head_dim: int = 32) -> None:
        super().__init__()
        self.group_conv3x3 = nn.Conv2d(channels, channels, 3, 1, 1, groups=_groups(channels, head_dim), bias=False)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()
        self.projection = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.act(self.norm(self.group_conv3x3(x))))


def mhca_macs(channels: int, head_dim: int, n: int) -> int:
    return (9 * channels // _groups(channels, head_dim) + channels) * channels * n


class NextMlp(nn.Module):
    """Biased 1x1 conv, ReLU, biased 1x1 conv; hidden width a multiple of 32."""

    def __init__(self, channels: int, mlp_ratio: int) -> None:
        super().__init__()
        hidden = _make_divisible(channels * mlp_ratio, 32)
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


def mlp_macs(channels: int, mlp_ratio: int, n: int) -> int:
    return 2 * channels * _make_divisible(channels * mlp_ratio, 32) * n


@register_block("ncb", role="body", family="nextvit", can_stride=True, paper=PAPER,
                knobs={"head_dim": HEAD_DIM_KNOB, "mlp_ratio": int_knob(3, 1, 6, "MLP expansion (official 3)")})
class NCB(nn.Module):
    """Next Convolution Block: PatchEmbed, x + MHCA(x), x + MLP(BN(x))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 3) -> None:
        super().__init__()
        self.patch_embed = NextPatchEmbed(in_ch, out_ch, stride)
        self.mhca = MHCA(out_ch, head_dim)
        self.norm = nn.BatchNorm2d(out_ch)
        self.mlp = NextMlp(out_ch, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = x + self.mhca(x)
        return x + self.mlp(self.norm(x))

    def reparameterize(self) -> None:
        """Deploy form (official ``merge_bn``): the MLP's pre-norm BN folded into its first conv."""
        if isinstance(self.norm, nn.BatchNorm2d):
            fold_pre_affine(self.mlp.conv1, *bn_affine(self.norm))
            self.norm = nn.Identity()

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 3,
             **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        return embed_macs(in_ch, out_ch, stride, h, w) + mhca_macs(out_ch, head_dim, n) + mlp_macs(out_ch, mlp_ratio, n)


class EMHSA(nn.Module):
    """Efficient MHSA: full-resolution queries; keys/values from tokens pooled by sr_ratio**2, then BN."""

    def __init__(self, dim: int, head_dim: int = 32, sr_ratio: int = 1) -> None:
        super().__init__()
        self.heads = _groups(dim, head_dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.sr = nn.AvgPool1d(sr_ratio ** 2, sr_ratio ** 2, ceil_mode=True) if sr_ratio > 1 else None
        self.norm = nn.BatchNorm1d(dim) if sr_ratio > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        kv = x
        if self.sr is not None and self.norm is not None:
            kv = self.norm(self.sr(x.transpose(1, 2))).transpose(1, 2)
        q = self.q(x).reshape(b, n, self.heads, -1).transpose(1, 2)
        k = self.k(kv).reshape(b, kv.shape[1], self.heads, -1).transpose(1, 2)
        v = self.v(kv).reshape(b, kv.shape[1], self.heads, -1).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


def emhsa_macs(dim: int, sr_ratio: int, n: int) -> int:
    m = -(-n // (sr_ratio * sr_ratio))
    return 2 * n * dim * dim + 2 * m * dim * dim + 2 * n * m * dim


@register_block("ntb", role="body", family="nextvit", attention=True, can_stride=True, paper=PAPER,
                knobs={"head_dim": HEAD_DIM_KNOB, "mlp_ratio": int_knob(2, 1, 6, "MLP expansion (official 2)"),
                       "sr_ratio": choice_knob(2, (1, 2, 4, 8), "key/value token reduction (official 4/2/1 in "
                                                                "stages 2/3/4)"),
                       "mix_ratio": choice_knob(0.75, (0.5, 0.625, 0.75, 0.875),
                                                "share of output channels in the E-MHSA branch")})
class NTB(nn.Module):
    """Next Transformer Block: E-MHSA on a share of the channels, MHCA on the rest, concat, MLP."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 2,
                 sr_ratio: int = 2, mix_ratio: float = 0.75) -> None:
        super().__init__()
        c1 = NTB.split(out_ch, mix_ratio)
        self.patch_embed = NextPatchEmbed(in_ch, c1, stride)
        self.norm1 = nn.BatchNorm2d(c1)
        self.e_mhsa = EMHSA(c1, head_dim, sr_ratio)
        self.projection = NextPatchEmbed(c1, out_ch - c1) if out_ch > c1 else None
        self.mhca = MHCA(out_ch - c1, head_dim) if out_ch > c1 else None
        self.norm2 = nn.BatchNorm2d(out_ch)
        self.mlp = NextMlp(out_ch, mlp_ratio)

    @staticmethod
    def split(out_ch: int, mix_ratio: float) -> int:
        """Channels of the E-MHSA branch: out*ratio rounded to 32 (official), kept below out when it can be."""
        c1 = _make_divisible(int(out_ch * mix_ratio), 32)
        return c1 if c1 < out_ch else max(1, int(out_ch * mix_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        b, c, h, w = x.shape
        t = self.norm1(x).flatten(2).transpose(1, 2)
        x = x + self.e_mhsa(t).transpose(1, 2).reshape(b, c, h, w)
        if self.projection is not None and self.mhca is not None:
            y = self.projection(x)
            x = torch.cat([x, y + self.mhca(y)], dim=1)
        return x + self.mlp(self.norm2(x))

    def reparameterize(self) -> None:
        """Deploy form (official ``merge_bn``): pre-norm BNs folded into q/k/v (through the key/value
        pooling and its BatchNorm1d, all per-channel affine) and into the MLP's first conv."""
        if not isinstance(self.norm1, nn.BatchNorm2d):
            return
        scale, shift = bn_affine(self.norm1)
        attn = self.e_mhsa
        fold_pre_affine(attn.q, scale, shift)
        if isinstance(attn.norm, nn.BatchNorm1d):
            s2, t2 = bn_affine(attn.norm)
            scale, shift = scale * s2, shift * s2 + t2
            attn.norm = nn.Identity()
        fold_pre_affine(attn.k, scale, shift)
        fold_pre_affine(attn.v, scale, shift)
        fold_pre_affine(self.mlp.conv1, *bn_affine(self.norm2))
        self.norm1, self.norm2 = nn.Identity(), nn.Identity()

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 2,
             sr_ratio: int = 2, mix_ratio: float = 0.75, **_: object) -> int:
        n = down(h, stride) * down(w, stride)
        c1 = NTB.split(out_ch, mix_ratio)
        m = embed_macs(in_ch, c1, stride, h, w) + emhsa_macs(c1, sr_ratio, n) + mlp_macs(out_ch, mlp_ratio, n)
        if out_ch > c1:
            m += embed_macs(c1, out_ch - c1, 1, down(h, stride), down(w, stride)) + mhca_macs(out_ch - c1, head_dim, n)
        return m


@register_block("nextvit_stem", role="stem", family="nextvit", paper=PAPER, knobs={})
class NextViTStem(nn.Module):
    """Four conv3x3 + BN + ReLU with widths (out, out/2, out, out) and strides (2, 1, 1, 2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        widths = (out_ch, max(1, out_ch // 2), out_ch, out_ch)
        layers, c = [], in_ch
        for i, o in enumerate(widths):
            s = 2 if i in (0, 3) else 1
            layers += [nn.Conv2d(c, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
            c = o
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        half = max(1, out_ch // 2)
        h2, w2 = down(h, 2), down(w, 2)
        return 9 * (in_ch * out_ch + 2 * out_ch * half) * h2 * w2 + 9 * out_ch * out_ch * down(h2, 2) * down(w2, 2)


@register_block("nextvit_head", role="head", family="nextvit", paper=PAPER, knobs={})
class NextViTHead(nn.Module):
    """BatchNorm on the final map, global average pool, linear classifier."""

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_ch)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x).mean((2, 3)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch
