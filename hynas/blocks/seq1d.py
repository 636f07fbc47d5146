"""1-D blocks over signals and token sequences (N, C, L): the same ideas as the image blocks.

Conv stem and downsample, MBConv (inverted residual, Sandler et al. 2018), ConvNeXt
(Liu et al. 2022) and the pre-norm transformer block (Vaswani et al. 2017), each written
for a length axis instead of a map. MAC formulas count as fvcore does (multiply-adds of
convolutions, linears and the two attention matmuls), with ``h`` the length and ``w`` = 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACT_KNOB, ChannelProj, ConvBN, down, make_act
from hynas.blocks.vit import Attention, attention_macs
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob

SEQ = (1,)


class LayerNorm1d(nn.LayerNorm):
    """LayerNorm over the channels of an NCL signal."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.transpose(1, 2), self.normalized_shape, self.weight, self.bias,
                            self.eps).transpose(1, 2)


def conv1d_macs(in_ch: int, out_ch: int, kernel: int, l_out: int, groups: int = 1) -> int:
    return kernel * (in_ch // groups) * out_ch * l_out


def proj1d_macs(in_ch: int, out_ch: int, stride: int, length: int) -> int:
    return in_ch * out_ch * down(length, stride) if in_ch != out_ch else 0


def _stem_strides(reduction: int, layers: int) -> list[int]:
    strides = [2] * {1: 0, 2: 1, 4: 2, 8: 3}[reduction]
    return strides + [1] * max(0, layers - len(strides))


@register_block("conv1d_stem", role="stem", family="seq1d", dims=SEQ,
                paper="convolutional subsampling as in Conformer / Squeezeformer (x4 by two stride-2 convs)",
                knobs={"kernel": choice_knob(3, (3, 5, 7, 9, 11)),
                       "reduction": choice_knob(2, (1, 2, 4, 8), "total stride along the length"),
                       "layers": int_knob(1, 1, 4, "conv+BN+act layers (raised to one per stride-2 step)"),
                       "separable": bool_knob(False, "depthwise-separable convs after the first"),
                       "act": ACT_KNOB})
class Conv1dStem(nn.Module):
    """Conv1d+BN+act layers; one stride-2 layer per halving, depthwise-separable after the first if asked."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, reduction: int = 2, layers: int = 1,
                 separable: bool = False, act: str = "gelu") -> None:
        super().__init__()
        mods, c = [], in_ch
        for i, s in enumerate(_stem_strides(reduction, layers)):
            if separable and i > 0:
                mods.append(nn.Sequential(nn.Conv1d(c, c, kernel, s, kernel // 2, groups=c, bias=False),
                                          ConvBN(c, out_ch, 1, act=act, dims=1)))
            else:
                mods.append(ConvBN(c, out_ch, kernel, s, act=act, dims=1))
            c = out_ch
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(reduction: int = 2, **_: object) -> int:
        return reduction

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, reduction: int = 2,
             layers: int = 1, separable: bool = False, **_: object) -> int:
        total, c, n = 0, in_ch, h
        for i, s in enumerate(_stem_strides(reduction, layers)):
            n = down(n, s)
            if separable and i > 0:
                total += conv1d_macs(c, c, kernel, n, groups=c) + conv1d_macs(c, out_ch, 1, n)
            else:
                total += conv1d_macs(c, out_ch, kernel, n)
            c = out_ch
        return total


@register_block("conv1d_down", role="downsample", family="seq1d", dims=SEQ,
                paper="strided conv downsampling (ConvNeXt / Next-ViT style), along the length",
                knobs={"kernel": choice_knob(3, (2, 3, 5)), "norm": choice_knob("bn", ("bn", "ln"))})
class Conv1dDown(nn.Module):
    """Stride-2 conv halving the length, then BN or LayerNorm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, norm: str = "bn") -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, 2, (kernel - 1) // 2, bias=norm == "ln")
        self.norm = LayerNorm1d(out_ch) if norm == "ln" else nn.BatchNorm1d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, **_: object) -> int:
        return conv1d_macs(in_ch, out_ch, kernel, (h + 2 * ((kernel - 1) // 2) - kernel) // 2 + 1)


@register_block("mbconv1d", role="body", family="seq1d", dims=SEQ, can_stride=True,
                paper="MobileNetV2 inverted residual (Sandler et al. 2018) over a length axis",
                knobs={"expand": int_knob(4, 1, 8), "kernel": choice_knob(5, (3, 5, 7, 9, 15, 31)),
                       "se": bool_knob(False, "squeeze-excite gates (ratio 1/4 of the input)"), "act": ACT_KNOB})
class MBConv1d(nn.Module):
    """1x1 expand, depthwise k conv (stride here), optional squeeze-excite, 1x1 project; residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, expand: int = 4, kernel: int = 5,
                 se: bool = False, act: str = "gelu") -> None:
        super().__init__()
        hid = in_ch * expand
        self.expand_conv = ConvBN(in_ch, hid, 1, act=act, dims=1) if expand != 1 else nn.Identity()
        self.dw = ConvBN(hid, hid, kernel, stride, groups=hid, act=act, dims=1)
        self.se = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Conv1d(hid, max(1, in_ch // 4), 1), nn.SiLU(),
                                nn.Conv1d(max(1, in_ch // 4), hid, 1), nn.Sigmoid()) if se else None
        self.project = ConvBN(hid, out_ch, 1, act=None, dims=1)
        self.short = ChannelProj(in_ch, out_ch, stride, dims=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(self.expand_conv(x))
        if self.se is not None:
            y = y * self.se(y)
        return self.short(x) + self.project(y)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, expand: int = 4, kernel: int = 5,
             se: bool = False, **_: object) -> int:
        hid, n = in_ch * expand, down(h, stride)
        m = (in_ch * hid * h if expand != 1 else 0) + kernel * hid * n + hid * out_ch * n
        if se:
            m += 2 * hid * max(1, in_ch // 4)
        return m + proj1d_macs(in_ch, out_ch, stride, h)


@register_block("convnext1d", role="body", family="seq1d", dims=SEQ,
                paper="ConvNeXt block (Liu et al. 2022) over a length axis",
                knobs={"kernel": choice_knob(7, (3, 5, 7, 9, 15, 31)), "mlp_ratio": int_knob(4, 1, 8),
                       "layer_scale": float_knob(1e-6, 0.0, 1.0, "initial residual scale (0 = none)"),
                       "act": ACT_KNOB})
class ConvNeXt1d(nn.Module):
    """Depthwise k conv, LayerNorm, pointwise MLP, layer scale; residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel: int = 7, mlp_ratio: int = 4,
                 layer_scale: float = 1e-6, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.dw = nn.Conv1d(out_ch, out_ch, kernel, 1, kernel // 2, groups=out_ch)
        self.norm = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)
        self.gamma = nn.Parameter(torch.full((out_ch,), layer_scale)) if layer_scale > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        t = self.fc2(self.act(self.fc1(self.norm(self.dw(x).transpose(1, 2)))))
        if self.gamma is not None:
            t = t * self.gamma
        return x + t.transpose(1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 7, mlp_ratio: int = 4,
             **_: object) -> int:
        return proj1d_macs(in_ch, out_ch, stride, h) + (kernel * out_ch + 2 * out_ch * out_ch * mlp_ratio) * h


@register_block("mhsa1d", role="body", family="seq1d", dims=SEQ, attention=True, can_stride=True,
                paper="pre-norm transformer block (Vaswani et al. 2017; ViT); CPE from CPVT (Chu et al. 2023)",
                knobs={"head_dim": choice_knob(32, (8, 16, 32, 36, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(True), "cpe": bool_knob(True, "depthwise k3 conv position encoding"),
                       "act": ACT_KNOB})
class SeqTransformer(nn.Module):
    """Pre-norm global multi-head self-attention + MLP over the length's tokens."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, head_dim: int = 32, mlp_ratio: int = 4,
                 qkv_bias: bool = True, cpe: bool = True, act: str = "gelu") -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, stride, dims=1)
        self.cpe = nn.Conv1d(out_ch, out_ch, 3, 1, 1, groups=out_ch) if cpe else None
        self.norm1 = nn.LayerNorm(out_ch)
        self.attn = Attention(out_ch, head_dim, qkv_bias)  # the token attention of the image blocks
        self.norm2 = nn.LayerNorm(out_ch)
        self.fc1 = nn.Linear(out_ch, out_ch * mlp_ratio)
        self.act = make_act(act)
        self.fc2 = nn.Linear(out_ch * mlp_ratio, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        if self.cpe is not None:
            x = x + self.cpe(x)
        t = x.transpose(1, 2)
        t = t + self.attn(self.norm1(t))
        t = t + self.fc2(self.act(self.fc1(self.norm2(t))))
        return t.transpose(1, 2)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, head_dim: int = 32, mlp_ratio: int = 4,
             cpe: bool = True, **_: object) -> int:
        n = down(h, stride)
        m = proj1d_macs(in_ch, out_ch, stride, h) + attention_macs(out_ch, head_dim, n)
        return m + 2 * n * out_ch * out_ch * mlp_ratio + (3 * out_ch * n if cpe else 0)


@register_block("upsample1d", role="upsample", family="seq1d", dims=SEQ,
                paper="nearest-neighbour x2 upsampling of a U-Net decoder (Ronneberger et al. 2015), along the length",
                knobs={"mode": choice_knob("nearest", ("nearest", "transpose"),
                                           "repeat each step (+1x1 conv when widths differ) or a stride-2 "
                                           "transposed conv")})
class Upsample1d(nn.Module):
    """Double the length: repeat (then 1x1 conv + BN to the new width) or a kernel-2 stride-2 transposed conv."""

    def __init__(self, in_ch: int, out_ch: int, mode: str = "nearest") -> None:
        super().__init__()
        self.mode = mode
        if mode == "transpose":
            self.proj = nn.ConvTranspose1d(in_ch, out_ch, 2, 2)
        else:
            self.proj = ConvBN(in_ch, out_ch, 1, act=None, dims=1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "transpose":
            return self.proj(x)
        return self.proj(x.repeat_interleave(2, dim=2))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mode: str = "nearest", **_: object) -> int:
        if mode == "transpose":
            return 2 * in_ch * out_ch * h
        return in_ch * out_ch * 2 * h if in_ch != out_ch else 0
