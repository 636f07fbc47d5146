"""EfficientFormer blocks (Li et al. 2022, "EfficientFormer: Vision Transformers at MobileNet Speed";
github.com/snap-research/EfficientFormer, timm port ``efficientformer.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- the stem is two conv3x3/2 with bias, BN and ReLU, to half the width and then the width
  (v2 uses the same stem with GELU); each later stage opens with a biased conv3x3/2 + BN;
- Meta4D: x + ls1 * (avgpool3x3(x) - x) (pool mixer, padding not counted), then
  x + ls2 * MLP(x) with the MLP biased 1x1 conv + BN + GELU + biased 1x1 conv + BN, ratio 4;
  layer-scale vectors per channel (init 1e-5);
- Meta3D (the last block of L1's last stage, on tokens): LayerNorm, LeViT-style attention
  (8 heads, key width 32, value width 4x the key width, one biased qkv linear and a biased
  output projection, a learned bias per head for every (|dy|, |dx|) offset of the map:
  heads x res^2 parameters), layer scale, LayerNorm, biased linear MLP (GELU, ratio 4),
  layer scale;
- the head is a norm (LayerNorm in v1, BatchNorm in v2), global average pool and two
  linear classifiers, the class head and the distillation head, whose logits are averaged.

Attention biases are sized by the ``resolution`` knob (7 at 224 input); on another map the
offsets are clamped to the table, so the same block runs at any map size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, LayerNorm2d, conv_macs, down, proj_macs
from hynas.space.catalog import bool_knob, choice_knob, int_knob

PAPER = "EfficientFormer (Li et al. 2022), github.com/snap-research/EfficientFormer (timm port efficientformer.py)"
LS_INIT = 1e-5


def offset_index(h: int, w: int, stride: int, res: int, device: torch.device) -> torch.Tensor:
    """(Nq, Nk) index into a res x res table of (|dy|, |dx|) offsets; queries every ``stride`` pixels."""
    ky, kx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    qy, qx = torch.meshgrid(torch.arange(0, h, stride, device=device), torch.arange(0, w, stride, device=device),
                            indexing="ij")
    dy = (qy.reshape(-1, 1) - ky.reshape(1, -1)).abs().clamp(max=res - 1)
    dx = (qx.reshape(-1, 1) - kx.reshape(1, -1)).abs().clamp(max=res - 1)
    return dy * res + dx


class OffsetBias(nn.Module):
    """Learned attention bias per head for every (|dy|, |dx|) offset of a res x res map (LeViT, EfficientFormer)."""

    def __init__(self, heads: int, res: int) -> None:
        super().__init__()
        self.res = res
        self.attention_biases = nn.Parameter(torch.zeros(heads, res * res))

    def forward(self, h: int, w: int, stride: int = 1) -> torch.Tensor:
        return self.attention_biases[:, offset_index(h, w, stride, self.res, self.attention_biases.device)]


class LayerScale(nn.Module):
    """Per-channel scale on the last dim (``channels_last=True``) or on the channels of an NCHW map."""

    def __init__(self, dim: int, channels_last: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.gamma = nn.Parameter(torch.full((dim,), LS_INIT))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.gamma if self.channels_last else self.gamma.reshape(1, -1, 1, 1))


@register_block("efficientformer_stem", role="stem", family="efficientformer", paper=PAPER,
                knobs={"act": choice_knob("relu", ("relu", "gelu"), "activation (ReLU in v1, GELU in v2)")})
class EfficientFormerStem(nn.Module):
    """conv3x3/2 (bias) + BN + act to half the width, conv3x3/2 (bias) + BN + act to the width."""

    def __init__(self, in_ch: int, out_ch: int, act: str = "relu") -> None:
        super().__init__()
        half = max(1, out_ch // 2)
        act_cls = nn.ReLU if act == "relu" else nn.GELU
        self.layers = nn.Sequential(nn.Conv2d(in_ch, half, 3, 2, 1), nn.BatchNorm2d(half), act_cls(),
                                    nn.Conv2d(half, out_ch, 3, 2, 1), nn.BatchNorm2d(out_ch), act_cls())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        half = max(1, out_ch // 2)
        h2, w2 = down(h, 2), down(w, 2)
        return conv_macs(in_ch, half, 3, h2, w2) + conv_macs(half, out_ch, 3, down(h2, 2), down(w2, 2))


@register_block("efficientformer_down", role="downsample", family="efficientformer", paper=PAPER, knobs={})
class EfficientFormerDown(nn.Module):
    """conv3x3/2 with bias + BN."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, 2, 1)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return conv_macs(in_ch, out_ch, 3, down(h, 2), down(w, 2))


@register_block("meta4d", role="body", family="efficientformer", paper=PAPER,
                knobs={"pool": choice_knob(3, (3, 5), "pooling mixer window"), "mlp_ratio": int_knob(4, 1, 8)})
class Meta4D(nn.Module):
    """x + ls * (avgpool(x) - x); x + ls * (1x1 + BN + GELU + 1x1 + BN)(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, pool: int = 3, mlp_ratio: int = 4) -> None:
        super().__init__()
        c, hid = out_ch, out_ch * mlp_ratio
        self.inp = ChannelProj(in_ch, out_ch)
        self.pool = nn.AvgPool2d(pool, 1, pool // 2, count_include_pad=False)
        self.ls1 = LayerScale(c)
        self.mlp = nn.Sequential(nn.Conv2d(c, hid, 1), nn.BatchNorm2d(hid), nn.GELU(), nn.Conv2d(hid, c, 1),
                                 nn.BatchNorm2d(c))
        self.ls2 = LayerScale(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = x + self.ls1(self.pool(x) - x)
        return x + self.ls2(self.mlp(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 4, **_: object) -> int:
        return proj_macs(in_ch, out_ch, 1, h, w) + 2 * out_ch * out_ch * mlp_ratio * h * w


class LeViTAttention(nn.Module):
    """Attention on (B, N, C) tokens of an h x w map: qkv linear (value width != key width), offset biases."""

    def __init__(self, dim: int, key_dim: int, heads: int, attn_ratio: int, res: int) -> None:
        super().__init__()
        self.heads, self.key_dim, self.val_dim = heads, key_dim, key_dim * attn_ratio
        self.qkv = nn.Linear(dim, heads * (2 * key_dim + self.val_dim))
        self.proj = nn.Linear(heads * self.val_dim, dim)
        self.bias = OffsetBias(heads, res)

    def forward(self, t: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, _ = t.shape
        qkv = self.qkv(t).reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.val_dim], dim=3)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias(h, w).to(q.dtype))
        return self.proj(y.transpose(1, 2).reshape(b, n, -1))


def levit_macs(dim: int, key_dim: int, heads: int, attn_ratio: int, n: int) -> int:
    """qkv + the two attention matmuls + projection for n tokens."""
    vd = key_dim * attn_ratio
    return n * dim * heads * (2 * key_dim + vd) + n * n * heads * (key_dim + vd) + n * heads * vd * dim


ATTN_KNOBS = {"key_dim": int_knob(32, 4, 128, "query/key width per head"),
              "heads": int_knob(8, 1, 32, "attention heads"),
              "attn_ratio": int_knob(4, 1, 8, "value width / key width"),
              "resolution": int_knob(7, 1, 64, "side of the attention-bias table (the map side at 224 input)")}


@register_block("meta3d", role="body", family="efficientformer", attention=True, paper=PAPER,
                knobs={**ATTN_KNOBS, "mlp_ratio": int_knob(4, 1, 8)})
class Meta3D(nn.Module):
    """Token block: x + ls * Attention(LN(x)); x + ls * MLP(LN(x))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, key_dim: int = 32, heads: int = 8,
                 attn_ratio: int = 4, resolution: int = 7, mlp_ratio: int = 4) -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch)
        self.norm1 = nn.LayerNorm(c)
        self.attn = LeViTAttention(c, key_dim, heads, attn_ratio, resolution)
        self.ls1 = LayerScale(c, channels_last=True)
        self.norm2 = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, c * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(c * mlp_ratio, c)
        self.ls2 = LayerScale(c, channels_last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + self.ls1(self.attn(self.norm1(t), h, w))
        t = t + self.ls2(self.fc2(self.act(self.fc1(self.norm2(t)))))
        return t.transpose(1, 2).reshape(b, c, h, w)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, key_dim: int = 32, heads: int = 8,
             attn_ratio: int = 4, mlp_ratio: int = 4, **_: object) -> int:
        n = h * w
        return (proj_macs(in_ch, out_ch, 1, h, w) + levit_macs(out_ch, key_dim, heads, attn_ratio, n)
                + 2 * n * out_ch * out_ch * mlp_ratio)


@register_block("distill_head", role="head", family="efficientformer", paper=PAPER + "; DeiT distillation head",
                knobs={"norm": choice_knob("ln", ("ln", "bn"), "norm before pooling (LayerNorm v1, BatchNorm v2)"),
                       "distill": bool_knob(True, "second (distillation) classifier, logits averaged")})
class DistillHead(nn.Module):
    """Norm, global average pool, class linear (+ distillation linear, averaged)."""

    def __init__(self, in_ch: int, num_classes: int, norm: str = "ln", distill: bool = True) -> None:
        super().__init__()
        self.norm = LayerNorm2d(in_ch) if norm == "ln" else nn.BatchNorm2d(in_ch)
        self.head = nn.Linear(in_ch, num_classes)
        self.head_dist = nn.Linear(in_ch, num_classes) if distill else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).mean((2, 3))
        if self.head_dist is None:
            return self.head(x)
        return (self.head(x) + self.head_dist(x)) / 2

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, distill: bool = True, **_: object) -> int:
        return in_ch * out_ch * (2 if distill else 1)
