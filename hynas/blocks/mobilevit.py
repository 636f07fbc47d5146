"""MobileViT v1 and v2 blocks and the MobileNetV2 inverted residual around them (Mehta & Rastegari 2022,
"MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer"; 2023, "Separable
Self-attention for Mobile Vision Transformers"; github.com/apple/ml-cvnets, timm port ``mobilevit.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- every conv is bias-free and followed by BN, every activation SiLU; the network opens with a
  conv3x3/2 and one stride-1 inverted residual at 112x112 (here the ``mobilevit_stem``, so
  the four strided stages line up with other 224-px hybrids);
- the inverted residual expands the *input* width (hidden = make_divisible(in x ratio, 8)),
  1x1 + BN + SiLU, depthwise 3x3 (strides) + BN + SiLU, 1x1 + BN, no activation after, and
  an identity shortcut only when the shapes match (no projection shortcut);
- the v1 block: full 3x3 conv + BN + SiLU (local), 1x1 to the transformer width (no BN;
  1.5x the block width in S and XS, 1.33/1.25/1.2x in XXS),
  unfold into p x p patches (the pixels at one offset of every patch form one sequence),
  pre-norm ViT blocks (4 heads, biased qkv, MLP ratio 2, SiLU), LayerNorm, fold, 1x1 back to
  the block width + BN + SiLU, concatenation with the block input, 3x3 fusion conv + BN +
  SiLU; a map the patch does not divide is bilinearly resized to the next multiple after
  the 1x1 and back before the projection (224 input: 7 -> 8 in the last stage);
- the v2 block: depthwise 3x3 + BN + SiLU, 1x1 to half the input width, separable linear
  attention blocks (GroupNorm(1); 1x1 to one context-score channel + keys + values, softmax
  of the scores over the patches, context vector = score-weighted key sum, ReLU(values)
  times it, 1x1 out; GroupNorm MLP of biased 1x1 convs, ratio 2), GroupNorm, fold, 1x1 +
  BN, no shortcut and no fusion; the map is resized before the block when the patch does not
  divide it. Here the output is resized back to the input map so that the block keeps its
  map like every body block (timm hands the head the 8x8 map); counts are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACTIVATIONS, down, fused_mhsa, make_act
from hynas.blocks.nextvit import _make_divisible
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob, related

PAPER = "MobileViT v1/v2 (Mehta & Rastegari 2022/2023), github.com/apple/ml-cvnets (timm port mobilevit.py)"
SILU_KNOB = choice_knob("silu", ACTIVATIONS, "activation function")


def conv_bn_act(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                act: str | None = "silu") -> nn.Sequential:
    """Bias-free conv + BN (+ activation)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(out_ch)]
    if act is not None:
        layers.append(make_act(act))
    return nn.Sequential(*layers)


def ceil_to(size: int, patch: int) -> int:
    """``size`` rounded up to a multiple of ``patch``. No negative floor division: traced into ONNX, ``//`` becomes
    Div, which truncates (-7 // 2 would give -3, so a 7x7 map would be cut to 6x6 instead of resized to 8x8)."""
    return (size + patch - 1) // patch * patch


def fit_patch(h: int, w: int, patch: int) -> int:
    """The patch used on an h x w map: the knob's, or 1 when the map is smaller than it (one token per pixel,
    no resize; never the case for the official models at 224, where the smallest map is 7x7)."""
    return patch if h >= patch and w >= patch else 1


def unfold_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * p * p, H*W / p^2, C): one sequence per pixel offset inside the patches."""
    b, c, h, w = x.shape
    nh, nw = h // patch, w // patch
    x = x.reshape(b, c, nh, patch, nw, patch).permute(0, 3, 5, 2, 4, 1)
    return x.reshape(b * patch * patch, nh * nw, c)


def fold_patches(t: torch.Tensor, patch: int, h: int, w: int) -> torch.Tensor:
    """Inverse of ``unfold_patches``."""
    c = t.shape[-1]
    nh, nw = h // patch, w // patch
    t = t.reshape(-1, patch, patch, nh, nw, c).permute(0, 5, 3, 1, 4, 2)
    return t.reshape(-1, c, h, w)


@register_block("mnv2", role="body", family="mobilevit", can_stride=True,
                paper="MobileNetV2 (Sandler et al. 2018) as MobileViT/EfficientViT/TinyViT use it",
                knobs={"expansion": int_knob(4, 1, 8, "hidden width / input width (rounded to 8)"),
                       "kernel": choice_knob(3, (3, 5, 7)), "act": SILU_KNOB,
                       "act_out": bool_knob(False, "activation after the residual sum (TinyViT)"),
                       "norm": choice_knob("all", ("all", "last"), "BN after every conv, or biased expand and "
                                                                   "depthwise convs with BN only after the projection "
                                                                   "(EfficientViT's attention stages)")})
class InvertedResidual(nn.Module):
    """1x1 expand of the input width, depthwise kxk, 1x1 project; identity shortcut only when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expansion: int = 4, kernel: int = 3,
                 act: str = "silu", act_out: bool = False, norm: str = "all") -> None:
        super().__init__()
        mid = _make_divisible(in_ch * expansion, 8)
        if norm == "all":
            self.conv1 = conv_bn_act(in_ch, mid, 1, act=act)
            self.conv2 = conv_bn_act(mid, mid, kernel, stride, groups=mid, act=act)
        else:
            self.conv1 = nn.Sequential(nn.Conv2d(in_ch, mid, 1), make_act(act))
            self.conv2 = nn.Sequential(nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid), make_act(act))
        self.conv3 = conv_bn_act(mid, out_ch, 1, act=None)
        self.residual = stride == 1 and in_ch == out_ch
        self.act = make_act(act) if act_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        return self.act(x + y if self.residual else y)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expansion: int = 4, kernel: int = 3,
             **_: object) -> int:
        mid = _make_divisible(in_ch * expansion, 8)
        return in_ch * mid * h * w + (kernel * kernel * mid + mid * out_ch) * down(h, stride) * down(w, stride)


@register_block("mobilevit_stem", role="stem", family="mobilevit", paper=PAPER,
                knobs={"conv_width": int_knob(16, 8, 256, "width of the strided conv3x3"),
                       "expansion": int_knob(4, 1, 8, "expansion of the inverted residual after it"),
                       "act": SILU_KNOB})
class MobileViTStem(nn.Module):
    """conv3x3/2 + BN + act to ``conv_width``, then an inverted residual (stride 1) to the stem width."""

    def __init__(self, in_ch: int, out_ch: int, conv_width: int = 16, expansion: int = 4, act: str = "silu") -> None:
        super().__init__()
        self.conv = conv_bn_act(in_ch, conv_width, 3, 2, act=act)
        self.block = InvertedResidual(conv_width, out_ch, 1, expansion, 3, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.conv(x))

    @staticmethod
    def reduction(**_: object) -> int:
        return 2

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, conv_width: int = 16, expansion: int = 4,
             **_: object) -> int:
        h2, w2 = down(h, 2), down(w, 2)
        return 9 * in_ch * conv_width * h2 * w2 + InvertedResidual.macs(conv_width, out_ch, 1, h2, w2,
                                                                        expansion=expansion)


class ViTLayer(nn.Module):
    """Pre-norm transformer layer on (B, N, C) tokens: LN, MHSA (biased qkv), LN, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, act: str) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t + fused_mhsa(self.norm1(t), self.qkv, self.proj, self.heads, self.head_dim)
        return t + self.fc2(self.act(self.fc1(self.norm2(t))))


@register_block("mobilevit", role="body", family="mobilevit", attention=True, paper=PAPER,
                knobs={"attn_ratio": float_knob(1.5, 0.25, 4.0, "transformer width / input width (rounded to 8)"),
                       "depth": int_knob(2, 1, 12, "transformer layers"),
                       "heads": choice_knob(4, (1, 2, 4, 8), "attention heads (divide the width, a multiple of 8)"),
                       "patch": related(int_knob(2, 1, 8, "patch size (at most the map)"), "within_map"),
                       "mlp_ratio": int_knob(2, 1, 8), "kernel": choice_knob(3, (3, 5)),
                       "fusion": bool_knob(True, "concatenate the input and fuse with a kxk conv"),
                       "act": SILU_KNOB})
class MobileViTBlock(nn.Module):
    """Local kxk conv, 1x1 to the transformer width, transformer over patches, fold, 1x1 back, concat + fuse."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, attn_ratio: float = 1.5, depth: int = 2,
                 heads: int = 4, patch: int = 2, mlp_ratio: int = 2, kernel: int = 3, fusion: bool = True,
                 act: str = "silu") -> None:
        super().__init__()
        dim = _make_divisible(attn_ratio * in_ch, 8)
        self.patch = patch
        self.conv_kxk = conv_bn_act(in_ch, in_ch, kernel, act=act)
        self.conv_1x1 = nn.Conv2d(in_ch, dim, 1, bias=False)
        self.transformer = nn.Sequential(*[ViTLayer(dim, heads, mlp_ratio, act) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.conv_proj = conv_bn_act(dim, out_ch, 1, act=act)
        self.conv_fusion = conv_bn_act(in_ch + out_ch, out_ch, kernel, act=act) if fusion else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        y = self.conv_1x1(self.conv_kxk(x))
        h, w = y.shape[2], y.shape[3]
        p = fit_patch(h, w, self.patch)
        hp, wp = ceil_to(h, p), ceil_to(w, p)
        if (hp, wp) != (h, w):
            y = F.interpolate(y, size=(hp, wp), mode="bilinear", align_corners=False)
        t = self.norm(self.transformer(unfold_patches(y, p)))
        y = fold_patches(t, p, hp, wp)
        if (hp, wp) != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = self.conv_proj(y)
        if self.conv_fusion is not None:
            y = self.conv_fusion(torch.cat((shortcut, y), dim=1))
        return y

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, attn_ratio: float = 1.5, depth: int = 2,
             patch: int = 2, mlp_ratio: int = 2, kernel: int = 3, fusion: bool = True, **_: object) -> int:
        dim = _make_divisible(attn_ratio * in_ch, 8)
        n, patch = h * w, fit_patch(h, w, patch)
        nt = ceil_to(h, patch) * ceil_to(w, patch)
        layer = 4 * nt * dim * dim + 2 * nt * (nt // (patch * patch)) * dim + 2 * nt * dim * dim * mlp_ratio
        m = kernel * kernel * in_ch * in_ch * n + in_ch * dim * n + depth * layer + dim * out_ch * n
        return m + (kernel * kernel * (in_ch + out_ch) * out_ch * n if fusion else 0)


class LinearAttentionLayer(nn.Module):
    """MobileViTv2 layer on (B, C, P, N): x + LinearAttn(GN(x)), x + MLP(GN(x)), all 1x1 convs with bias."""

    def __init__(self, dim: int, mlp_ratio: int, act: str) -> None:
        super().__init__()
        self.dim = dim
        self.norm1 = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.out = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.GroupNorm(1, dim)
        self.fc1 = nn.Conv2d(dim, dim * mlp_ratio, 1)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(dim * mlp_ratio, dim, 1)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).split([1, self.dim, self.dim], dim=1)
        context = (k * F.softmax(q, dim=-1)).sum(dim=-1, keepdim=True)
        return self.out(F.relu(v) * context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


@register_block("mobilevit2", role="body", family="mobilevit", attention=True, paper=PAPER,
                knobs={"attn_ratio": float_knob(0.5, 0.125, 4.0, "transformer width / input width (rounded to 8)"),
                       "depth": int_knob(2, 1, 12, "linear-attention layers"),
                       "patch": related(int_knob(2, 1, 8, "patch size (at most the map)"), "within_map"),
                       "mlp_ratio": int_knob(2, 1, 8), "kernel": choice_knob(3, (3, 5)), "act": SILU_KNOB})
class MobileViTv2Block(nn.Module):
    """Depthwise kxk, 1x1 to the attention width, separable linear attention over patches, fold, 1x1 + BN."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, attn_ratio: float = 0.5, depth: int = 2,
                 patch: int = 2, mlp_ratio: int = 2, kernel: int = 3, act: str = "silu") -> None:
        super().__init__()
        dim = _make_divisible(attn_ratio * in_ch, 8)
        self.patch = patch
        self.conv_kxk = conv_bn_act(in_ch, in_ch, kernel, groups=in_ch, act=act)
        self.conv_1x1 = nn.Conv2d(in_ch, dim, 1, bias=False)
        self.transformer = nn.Sequential(*[LinearAttentionLayer(dim, mlp_ratio, act) for _ in range(depth)])
        self.norm = nn.GroupNorm(1, dim)
        self.conv_proj = conv_bn_act(dim, out_ch, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = fit_patch(h, w, self.patch)
        hp, wp = ceil_to(h, p), ceil_to(w, p)
        if (hp, wp) != (h, w):
            x = F.interpolate(x, size=(hp, wp), mode="bilinear", align_corners=True)
        y = self.conv_1x1(self.conv_kxk(x))
        c, nh, nw = y.shape[1], hp // p, wp // p
        y = y.reshape(b, c, nh, p, nw, p).permute(0, 1, 3, 5, 2, 4).reshape(b, c, p * p, nh * nw)
        y = self.norm(self.transformer(y))
        y = y.reshape(b, c, p, p, nh, nw).permute(0, 1, 4, 2, 5, 3).reshape(b, c, hp, wp)
        y = self.conv_proj(y)
        if (hp, wp) != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=True)
        return y

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, attn_ratio: float = 0.5, depth: int = 2,
             patch: int = 2, mlp_ratio: int = 2, kernel: int = 3, **_: object) -> int:
        dim, patch = _make_divisible(attn_ratio * in_ch, 8), fit_patch(h, w, patch)
        n = ceil_to(h, patch) * ceil_to(w, patch)
        layer = n * dim * (1 + 2 * dim) + n * dim * dim + 2 * n * dim * dim * mlp_ratio
        return n * (kernel * kernel * in_ch + in_ch * dim + dim * out_ch) + depth * layer
