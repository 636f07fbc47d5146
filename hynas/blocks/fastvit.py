"""FastViT blocks (Vasu et al. 2023, "FastViT: A Fast Hybrid Vision Transformer using Structural
Reparameterization"; github.com/apple/ml-fastvit, timm port ``fastvit.py``).

Facts from the official code (as ported to timm, which the reference counts follow):

- activations GELU, norms BatchNorm; every re-parameterisable conv is a sum of branches, each
  a bias-free conv + BN: MobileOne = kxk conv + 1x1 "scale" conv (+ a BN identity branch when
  shapes match); the large-kernel patch embed = 7x7 + 3x3 grouped convs (groups = input
  width), then a MobileOne 1x1 + GELU;
- the stem: MobileOne 3x3/2 (full), 3x3/2 (depthwise), 1x1, each + GELU;
- RepMixer block: x + ls * (MobileOne_dw3x3(x) - BN(x)), then x + ls * ConvMLP(x), the MLP a
  depthwise 7x7 + BN, biased 1x1, GELU, biased 1x1 (ratio 4);
- the last stage opens with RepCPE (x + a biased depthwise 7x7 conv) and stacks attention
  blocks: x + ls * MHSA(BN(x)) (bias-free qkv, biased projection, 32-wide heads), then
  x + ls * ConvMLP(x);
- the head: a MobileOne 3x3 grouped conv (groups = input width) to twice the width with
  squeeze-excite (1/16, ReLU) + GELU, pool, linear.

Re-parameterisation follows ``hynas.blocks.reparam``: training runs the branches; in eval
mode each module computes the single fused kernel on the fly (so MACs, outputs and the
deployed network agree), and ``reparameterize()`` (``fuse_for_inference``) replaces the
branches with that kernel in place. Counted in training mode the network is timm's
train-time form; fused, its deployed form.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, SqueezeExcite, conv_macs, down, proj_macs
from hynas.blocks.efficientformer import LayerScale
from hynas.blocks.reparam import fold_bn
from hynas.space.catalog import bool_knob, choice_knob, int_knob, related

PAPER = "FastViT (Vasu et al. 2023), github.com/apple/ml-fastvit (timm port fastvit.py)"


def pad_kernel(w: torch.Tensor, k: int) -> torch.Tensor:
    """Zero-pad a (o, c, j, j) kernel to k x k (by concatenation, which keeps shapes known to ONNX export)."""
    p = (k - w.shape[-1]) // 2
    if p == 0:
        return w
    o, c, j = w.shape[0], w.shape[1], w.shape[-1]
    side = torch.zeros(o, c, j, p, device=w.device, dtype=w.dtype)
    w = torch.cat([side, w, side], dim=3)
    top = torch.zeros(o, c, p, k, device=w.device, dtype=w.dtype)
    return torch.cat([top, w, top], dim=2)


def identity_kernel(out_ch: int, cin: int, k: int, ref: torch.Tensor) -> torch.Tensor:
    """The (out, in/groups, k, k) kernel of a grouped conv that passes its input through."""
    eye = torch.eye(cin, device=ref.device, dtype=ref.dtype).repeat(out_ch // cin, 1).reshape(out_ch, cin, 1, 1)
    return pad_kernel(eye, k)


def replace_conv(weight: torch.Tensor, bias: torch.Tensor, stride: int, groups: int) -> nn.Conv2d:
    """A biased conv holding a computed (fused) kernel."""
    out_ch, cin, k = weight.shape[0], weight.shape[1], weight.shape[-1]
    conv = nn.Conv2d(cin * groups, out_ch, k, stride, k // 2, groups=groups).to(weight.device)
    with torch.no_grad():  # not a decorator: the exporter drops decorators when it copies this source
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


class RepConv(nn.Module):
    """Sum of bias-free conv + BN branches of the given kernels (+ a BN identity branch); one conv deployed."""

    def __init__(self, in_ch: int, out_ch: int, kernels: tuple[int, ...], stride: int = 1, groups: int = 1,
                 identity: bool = False) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.stride, self.groups = in_ch, out_ch, stride, groups
        self.kernel = max(kernels) if kernels else 1
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_ch, out_ch, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(out_ch))
            for k in kernels)
        self.identity = nn.BatchNorm2d(in_ch) if identity and in_ch == out_ch and stride == 1 else None
        self.register_module("fused", None)

    def fused_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The kernel and bias the branches equal in eval mode."""
        if self.fused is not None:
            return self.fused.weight, self.fused.bias
        k, cin = self.kernel, self.in_ch // self.groups
        ref = self.identity.weight if self.identity is not None else self.branches[0][0].weight
        weight = torch.zeros(self.out_ch, cin, k, k, device=ref.device, dtype=ref.dtype)
        bias = torch.zeros(self.out_ch, device=ref.device, dtype=ref.dtype)
        for branch in self.branches:
            w, b = fold_bn(branch[0].weight, None, branch[1])
            weight, bias = weight + pad_kernel(w, k), bias + b
        if self.identity is not None:
            w, b = fold_bn(identity_kernel(self.out_ch, cin, k, ref), None, self.identity)
            weight, bias = weight + w, bias + b
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x)
        if self.training:
            out = self.identity(x) if self.identity is not None else 0
            for branch in self.branches:
                out = out + branch(x)
            return out
        weight, bias = self.fused_weight()
        return F.conv2d(x, weight, bias, self.stride, self.kernel // 2, groups=self.groups)

    def reparameterize(self) -> None:
        if self.fused is None:
            weight, bias = self.fused_weight()
            self.fused = replace_conv(weight.detach(), bias.detach(), self.stride, self.groups)
            self.branches = nn.ModuleList()
            self.identity = None


@register_block("fastvit_stem", role="stem", family="fastvit", paper=PAPER, knobs={})
class FastViTStem(nn.Module):
    """MobileOne 3x3/2, depthwise 3x3/2 and 1x1, each + GELU (reduction 4)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(RepConv(in_ch, out_ch, (3, 1), 2), nn.GELU(),
                                    RepConv(out_ch, out_ch, (3, 1), 2, out_ch, identity=True), nn.GELU(),
                                    RepConv(out_ch, out_ch, (1,), identity=True), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(**_: object) -> int:
        return 4

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        n2, n4 = down(h, 2) * down(w, 2), down(h, 4) * down(w, 4)
        return conv_macs(in_ch, out_ch, 3, 1, n2) + 9 * out_ch * n4 + out_ch * out_ch * n4


@register_block("fastvit_embed", role="downsample", family="fastvit", paper=PAPER,
                knobs={"kernel": choice_knob(7, (3, 5, 7), "large kernel (a 3x3 branch beside it)")})
class FastViTEmbed(nn.Module):
    """Re-parameterised large-kernel grouped conv /2 (kxk + 3x3 branches), then MobileOne 1x1 + GELU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 7) -> None:
        super().__init__()
        g = math.gcd(in_ch, out_ch)
        self.lk = RepConv(in_ch, out_ch, tuple(dict.fromkeys((kernel, 3))), 2, g)
        self.pw = RepConv(out_ch, out_ch, (1,), identity=True)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.pw(self.lk(x)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, **_: object) -> int:
        n = down(h, 2) * down(w, 2)
        return (kernel * kernel * (in_ch // math.gcd(in_ch, out_ch)) + out_ch) * out_ch * n


class ConvMlp(nn.Module):
    """Depthwise 7x7 + BN, biased 1x1, GELU, biased 1x1."""

    def __init__(self, dim: int, mlp_ratio: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(dim, dim, 7, 1, 3, groups=dim, bias=False), nn.BatchNorm2d(dim))
        self.fc1 = nn.Conv2d(dim, dim * mlp_ratio, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(dim * mlp_ratio, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.conv(x))))


def mlp_macs(dim: int, mlp_ratio: int, n: int) -> int:
    return n * (49 * dim + 2 * dim * dim * mlp_ratio)


class RepMixer(nn.Module):
    """x + ls * (MobileOne depthwise kxk(x) - BN(x)); one depthwise conv deployed."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.dim, self.kernel = dim, kernel
        self.mixer = RepConv(dim, dim, (kernel, 1), 1, dim, identity=True)
        self.norm = RepConv(dim, dim, (), 1, dim, identity=True)
        self.layer_scale = LayerScale(dim)
        self.register_module("fused", None)

    def fused_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        wm, bm = self.mixer.fused_weight()
        wn, bn = self.norm.fused_weight()
        k = self.kernel
        eye = identity_kernel(self.dim, 1, k, wm)
        g = self.layer_scale.gamma
        return eye + g.reshape(-1, 1, 1, 1) * (wm - pad_kernel(wn, k)), g * (bm - bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.fused(x)
        if self.training:
            return x + self.layer_scale(self.mixer(x) - self.norm(x))
        weight, bias = self.fused_weight()
        return F.conv2d(x, weight, bias, 1, self.kernel // 2, groups=self.dim)

    def reparameterize(self) -> None:
        if self.fused is None:
            weight, bias = self.fused_weight()
            self.fused = replace_conv(weight.detach(), bias.detach(), 1, self.dim)
            del self.mixer, self.norm, self.layer_scale


@register_block("repmixer", role="body", family="fastvit", paper=PAPER,
                knobs={"kernel": choice_knob(3, (3, 5, 7), "RepMixer depthwise kernel"),
                       "mlp_ratio": int_knob(4, 1, 8)})
class RepMixerBlock(nn.Module):
    """RepMixer token mixing, then x + ls * ConvMLP(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel: int = 3, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch)
        self.token_mixer = RepMixer(out_ch, kernel)
        self.mlp = ConvMlp(out_ch, mlp_ratio)
        self.layer_scale = LayerScale(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.token_mixer(self.inp(x))
        return x + self.layer_scale(self.mlp(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, mlp_ratio: int = 4,
             **_: object) -> int:
        n = h * w
        return proj_macs(in_ch, out_ch, 1, h, w) + kernel * kernel * out_ch * n + mlp_macs(out_ch, mlp_ratio, n)


class RepCPE(nn.Module):
    """x + biased depthwise kxk conv (conditional position encoding); folded to one conv when fused."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.pos_enc = nn.Conv2d(dim, dim, kernel, 1, kernel // 2, groups=dim)
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos_enc(x) if self.fused else x + self.pos_enc(x)

    def reparameterize(self) -> None:
        if not self.fused:
            w = self.pos_enc.weight
            self.pos_enc = replace_conv((w + identity_kernel(w.shape[0], 1, w.shape[-1], w)).detach(),
                                        self.pos_enc.bias.detach(), 1, w.shape[0])
            self.fused = True


@register_block("fastvit_attn", role="body", family="fastvit", attention=True, paper=PAPER,
                knobs={"head_dim": related(choice_knob(32, (16, 32, 64), "attention head width (divides the width)"), "divides_width"),
                       "mlp_ratio": int_knob(4, 1, 8),
                       "cpe": bool_knob(False, "RepCPE before the block (FastViT's first attention block)"),
                       "cpe_kernel": choice_knob(7, (3, 5, 7), "RepCPE depthwise kernel")})
class FastViTAttention(nn.Module):
    """[RepCPE]; x + ls * MHSA(BN(x)); x + ls * ConvMLP(x)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 cpe: bool = False, cpe_kernel: int = 7) -> None:
        super().__init__()
        c = out_ch
        self.inp = ChannelProj(in_ch, out_ch)
        self.pos_emb = RepCPE(c, cpe_kernel) if cpe else nn.Identity()
        self.norm = nn.BatchNorm2d(c)
        self.heads = max(1, c // head_dim)
        while c % self.heads:  # a sampled width the head width does not divide: the nearest lower head count
            self.heads -= 1
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.proj = nn.Linear(c, c)
        self.layer_scale_1 = LayerScale(c)
        self.mlp = ConvMlp(c, mlp_ratio)
        self.layer_scale_2 = LayerScale(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_emb(self.inp(x))
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(t).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c))
        x = x + self.layer_scale_1(y.transpose(1, 2).reshape(b, c, h, w))
        return x + self.layer_scale_2(self.mlp(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mlp_ratio: int = 4, cpe: bool = False,
             cpe_kernel: int = 7, **_: object) -> int:
        c, n = out_ch, h * w
        m = proj_macs(in_ch, out_ch, 1, h, w) + 4 * n * c * c + 2 * n * n * c + mlp_macs(c, mlp_ratio, n)
        return m + (cpe_kernel * cpe_kernel * c * n if cpe else 0)


@register_block("fastvit_head", role="head", family="fastvit", paper=PAPER,
                knobs={"ratio": int_knob(2, 1, 4, "head conv width / input width")})
class FastViTHead(nn.Module):
    """MobileOne 3x3 grouped conv (groups = input width) to ratio x width, SE, GELU, pool, linear."""

    def __init__(self, in_ch: int, num_classes: int, ratio: int = 2) -> None:
        super().__init__()
        hid = in_ch * ratio
        self.conv = RepConv(in_ch, hid, (3, 1), 1, in_ch)
        self.se = SqueezeExcite(hid, max(1, hid // 16), act="relu")
        self.act = nn.GELU()
        self.fc = nn.Linear(hid, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.se(self.conv(x))).mean((2, 3)))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, ratio: int = 2, **_: object) -> int:
        hid = in_ch * ratio
        return 9 * hid * h * w + 2 * hid * max(1, hid // 16) + hid * out_ch
