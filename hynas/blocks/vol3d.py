"""3-D blocks over volumes (N, C, D, H, W): conv stem/downsample/residual blocks, upsampling and Swin windows.

The conv pieces are the 3-D U-Net's (Cicek et al. 2016) with the pre-activation options of
MIS-FM's PCT-Net (openmedlab/MIS-FM ``net/pct_net.py`` @ 1506d659: BN -> PReLU -> biased conv,
max-pool downsampling, BN -> PReLU -> transposed-conv upsampling), so that network is
expressible exactly. ``swin3d`` is Swin-style window attention in 3-D (Liu et al. 2021; Video
Swin, Liu et al. 2022; the 3-D layer of MIS-FM ``net/transformer.py`` @ 1506d659): pre-norm
window MSA with a learned ((2w-1)^3, heads) relative position bias, then an MLP, the odd blocks
of a layer on windows cyclically shifted by w // 2 (with the mask that keeps wrapped voxels
apart). A window must tile the cube (or cover it: a side <= window is one window, unshifted,
as the official code does). MACs count as fvcore does over D*H*W = h*h*w voxels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ACTIVATIONS, ChannelProj, ConvBN, down, heads_for, make_act
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob

VOL = (3,)
ACT3D_KNOB = choice_knob("gelu", ACTIVATIONS + ("prelu",), "activation function (prelu: one learned slope)")
WINDOW_KNOB = choice_knob(4, (2, 3, 4, 6, 12), "window side in voxels (must divide the cube's side, or cover it)")


def vox(h: int, w: int, stride: int = 1) -> int:
    """Voxels of a cube of side h (w = h) after a padded conv of this stride."""
    return down(h, stride) * down(h, stride) * down(w, stride)


def conv3d_macs(in_ch: int, out_ch: int, kernel: int, n_out: int, groups: int = 1) -> int:
    return kernel ** 3 * (in_ch // groups) * out_ch * n_out


class PreactConv3d(nn.Sequential):
    """BN -> activation -> (dropout) -> biased conv: MIS-FM's pre-activation unit (ConvLayer, DownSample's conv)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, act: str = "prelu",
                 dropout: float = 0.0) -> None:
        layers = [nn.BatchNorm3d(in_ch), make_act(act)] + ([nn.Dropout(dropout)] if dropout > 0 else [])
        super().__init__(*layers, nn.Conv3d(in_ch, out_ch, kernel, stride, kernel // 2))


def proj3d_macs(in_ch: int, out_ch: int, stride: int, h: int, w: int) -> int:
    return in_ch * out_ch * vox(h, w, stride) if in_ch != out_ch else 0


def _stem_strides_3d(reduction: int, layers: int) -> list[int]:
    strides = [2] * {1: 0, 2: 1, 4: 2}[reduction]
    return strides + [1] * max(0, layers - len(strides))


@register_block("conv3d_stem", role="stem", family="vol3d", dims=VOL,
                paper="3-D U-Net input convs (Cicek et al. 2016); style conv: MIS-FM PCT-Net's biased projection",
                knobs={"kernel": choice_knob(3, (3, 5, 7)),
                       "reduction": choice_knob(2, (1, 2, 4), "total stride on each axis"),
                       "layers": int_knob(1, 1, 4, "conv layers (raised to one per stride-2 step)"),
                       "style": choice_knob("cba", ("cba", "conv"), "conv+BN+act layers, or biased convs "
                                            "without norm (activation between them, none after the last)"),
                       "act": ACT3D_KNOB})
class Conv3dStem(nn.Module):
    """Conv3d layers, one stride-2 layer per halving: conv+BN+act, or plain biased convs (MIS-FM's projection)."""

    contract_maps = (4, 8)  # the stem sees 16^3 and 32^3 volumes in the contract

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, reduction: int = 2, layers: int = 1,
                 style: str = "cba", act: str = "gelu") -> None:
        super().__init__()
        mods: list[nn.Module] = []
        strides = _stem_strides_3d(reduction, layers)
        for i, s in enumerate(strides):
            c = in_ch if i == 0 else out_ch
            if style == "conv":
                mods.append(nn.Conv3d(c, out_ch, kernel, s, kernel // 2))
                if i < len(strides) - 1:
                    mods.append(make_act(act))
            else:
                mods.append(ConvBN(c, out_ch, kernel, s, act=act, dims=3))
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @staticmethod
    def reduction(reduction: int = 2, **_: object) -> int:
        return reduction

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, reduction: int = 2,
             layers: int = 1, **_: object) -> int:
        total, c = 0, in_ch
        for s in _stem_strides_3d(reduction, layers):
            h, w = down(h, s), down(w, s)
            total += conv3d_macs(c, out_ch, kernel, h * h * w)
            c = out_ch
        return total


@register_block("conv3d_down", role="downsample", family="vol3d", dims=VOL,
                paper="strided conv3d downsampling (3-D U-Net); style pool_preact: MIS-FM PCT-Net's DownSample",
                knobs={"kernel": choice_knob(3, (2, 3)),
                       "style": choice_knob("conv", ("conv", "pool_preact"),
                                            "stride-2 conv + BN, or 2x max-pool -> BN -> PReLU -> 3x3x3 conv")})
class Conv3dDown(nn.Module):
    """Halve every axis: a stride-2 conv3d then BN, or MIS-FM's max-pool then pre-activated biased conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, style: str = "conv") -> None:
        super().__init__()
        if style == "pool_preact":
            self.body = nn.Sequential(nn.MaxPool3d(2), PreactConv3d(in_ch, out_ch, 3, act="prelu"))
        else:
            self.body = nn.Sequential(nn.Conv3d(in_ch, out_ch, kernel, 2, (kernel - 1) // 2, bias=False),
                                      nn.BatchNorm3d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, kernel: int = 3, style: str = "conv",
             **_: object) -> int:
        if style == "pool_preact":
            return conv3d_macs(in_ch, out_ch, 3, (h // 2) ** 2 * (w // 2))
        side = lambda n: (n + 2 * ((kernel - 1) // 2) - kernel) // 2 + 1
        return conv3d_macs(in_ch, out_ch, kernel, side(h) ** 2 * side(w))


def _conv_layers(style: str, in_ch: int, out_ch: int, stride: int, kernel: int, layers: int, act: str,
                 dropout: float) -> list[nn.Module]:
    mods: list[nn.Module] = []
    for i in range(layers):
        c, s, last = in_ch if i == 0 else out_ch, stride if i == 0 else 1, i == layers - 1
        if style == "preact":
            mods.append(PreactConv3d(c, out_ch, kernel, s, act, dropout if i > 0 else 0.0))
        elif style == "separable":
            mods.append(nn.Sequential(nn.Conv3d(c, c, kernel, s, kernel // 2, groups=c, bias=False),
                                      ConvBN(c, out_ch, 1, act=None if last else act, dims=3)))
        else:
            mods.append(ConvBN(c, out_ch, kernel, s, act=None if last else act, dims=3))
    return mods


@register_block("conv3d_block", role="body", family="vol3d", dims=VOL, can_stride=True,
                paper="residual 3-D conv block (3-D U-Net / ResNet); preact: MIS-FM PCT-Net's ConvBlock",
                knobs={"style": choice_knob("residual", ("residual", "separable", "preact"),
                                            "conv+BN layers around a residual; depthwise-separable ones; or "
                                            "BN -> act -> biased conv layers without a residual (MIS-FM)"),
                       "kernel": choice_knob(3, (1, 3, 5)), "layers": int_knob(2, 1, 3, "conv layers"),
                       "tail_act": bool_knob(False, "close with BN + activation (the pre-activation of a "
                                             "following 1x1 output conv, e.g. MIS-FM's out_conv)"),
                       "dropout": float_knob(0.0, 0.0, 0.9, "dropout before every conv but the first (preact)"),
                       "act": ACT3D_KNOB})
class Conv3dBlock(nn.Module):
    """``layers`` 3-D convs (residual conv+BN, separable, or pre-activated without a residual), stride on the first."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, style: str = "residual", kernel: int = 3,
                 layers: int = 2, tail_act: bool = False, dropout: float = 0.0, act: str = "gelu") -> None:
        super().__init__()
        self.convs = nn.Sequential(*_conv_layers(style, in_ch, out_ch, stride, kernel, layers, act, dropout))
        self.short = ChannelProj(in_ch, out_ch, stride, dims=3) if style != "preact" else None
        self.act = make_act(act) if style != "preact" else nn.Identity()
        self.tail = nn.Sequential(nn.BatchNorm3d(out_ch), make_act(act)) if tail_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        if self.short is not None:
            y = self.act(self.short(x) + y)
        return self.tail(y)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, style: str = "residual", kernel: int = 3,
             layers: int = 2, **_: object) -> int:
        n, total = vox(h, w, stride), 0
        for i in range(layers):
            c = in_ch if i == 0 else out_ch
            if style == "separable":
                total += conv3d_macs(c, c, kernel, n, groups=c) + c * out_ch * n
            else:
                total += conv3d_macs(c, out_ch, kernel, n)
        return total + (proj3d_macs(in_ch, out_ch, stride, h, w) if style != "preact" else 0)


@register_block("upsample3d", role="upsample", family="vol3d", dims=VOL,
                paper="3-D U-Net decoder upsampling; preact + transpose: MIS-FM PCT-Net's UpCatBlock.up",
                knobs={"mode": choice_knob("nearest", ("nearest", "transpose"),
                                           "repeat each voxel (+1x1x1 conv + BN when widths differ) or a "
                                           "2x2x2 stride-2 transposed conv"),
                       "preact": bool_knob(False, "BN -> PReLU before upsampling (MIS-FM)")})
class Upsample3d(nn.Module):
    """Double every axis: nearest (then 1x1x1 conv + BN to the new width) or a 2x2x2 stride-2 transposed conv."""

    def __init__(self, in_ch: int, out_ch: int, mode: str = "nearest", preact: bool = False) -> None:
        super().__init__()
        self.mode = mode
        self.pre = nn.Sequential(nn.BatchNorm3d(in_ch), nn.PReLU()) if preact else nn.Identity()
        if mode == "transpose":
            self.proj = nn.ConvTranspose3d(in_ch, out_ch, 2, 2)
        else:
            self.proj = ConvBN(in_ch, out_ch, 1, act=None, dims=3) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        if self.mode == "transpose":
            return self.proj(x)
        return self.proj(F.interpolate(x, scale_factor=2, mode="nearest"))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mode: str = "nearest", **_: object) -> int:
        if mode == "transpose":
            return 8 * in_ch * out_ch * h * h * w
        return in_ch * out_ch * 8 * h * h * w if in_ch != out_ch else 0


# ---- Swin-style 3-D window attention -------------------------------------------------------------------

def rel_index3d(w: int, misfm: bool = False) -> torch.Tensor:
    """(w^3, w^3) indices into a (2w-1)^3 bias table. ``misfm``: MIS-FM's strides (3w-1, 2w-1, 1) in place of
    ((2w-1)^2, 2w-1, 1) (net/transformer.py @ 1506d659), which lets some offsets share an entry; kept as the
    official network computes it."""
    g = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
    rel = (g[:, :, None] - g[:, None, :]).permute(1, 2, 0) + (w - 1)
    s0, s1 = (3 * w - 1, 2 * w - 1) if misfm else ((2 * w - 1) ** 2, 2 * w - 1)
    return rel[..., 0] * s0 + rel[..., 1] * s1 + rel[..., 2]


def partition3d(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, D, H, W, C) -> (B * windows, w^3, C), windows in raster order per sample."""
    b, d, h, ww, c = x.shape
    x = x.reshape(b, d // w, w, h // w, w, ww // w, w, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(-1, w * w * w, c)


def reverse3d(t: torch.Tensor, w: int, b: int, d: int, h: int, ww: int) -> torch.Tensor:
    t = t.reshape(b, d // w, h // w, ww // w, w, w, w, -1).permute(0, 1, 4, 2, 5, 3, 6, 7)
    return t.reshape(b, d, h, ww, -1)


def shift_mask3d(side: int, w: int, s: int, device: torch.device) -> torch.Tensor:
    """(windows, w^3, w^3) additive mask (-100 between voxels of different pre-shift regions), as Swin's."""
    i = torch.arange(side, device=device)
    r = (i >= side - w).long() + (i >= side - s).long()
    ids = (r[:, None, None] * 9 + r[None, :, None] * 3 + r[None, None, :]).float()
    win = partition3d(ids[None, ..., None], w).squeeze(-1)
    return (win[:, None, :] != win[:, :, None]).float() * -100.0


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop a sample's residual branch with probability p while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class WindowAttention3d(nn.Module):
    """Multi-head attention inside w^3 windows, with a learned relative position bias per head."""

    def __init__(self, dim: int, window: int, head_dim: int = 32, qkv_bias: bool = True, misfm: bool = False) -> None:
        super().__init__()
        self.heads, self.head_dim, self.window = heads_for(dim, head_dim), head_dim, window
        inner = self.heads * head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.table = nn.Parameter(nn.init.trunc_normal_(torch.zeros((2 * window - 1) ** 3, self.heads), std=0.02))
        self.register_buffer("index", rel_index3d(window, misfm), persistent=False)
        self.proj = nn.Linear(inner, dim)

    def _index(self, s: int) -> torch.Tensor:
        """The table indices for s^3 tokens: a cube smaller than the window (attended whole) uses the
        offsets of the window's s^3 corner, so the parameters do not depend on the input size."""
        w = self.window
        if s == w:
            return self.index
        return self.index.reshape((w,) * 6)[:s, :s, :s, :s, :s, :s].reshape(s ** 3, s ** 3)

    def forward(self, t: torch.Tensor, mask: torch.Tensor | None, side: int) -> torch.Tensor:
        """``t``: (B * windows, side^3, C) tokens of side^3 windows."""
        b, n, _ = t.shape
        q, k, v = self.qkv(t).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        bias = self.table[self._index(side).reshape(-1)].reshape(n, n, -1).permute(2, 0, 1).to(q.dtype)[None]
        if mask is not None:  # (windows, n, n) per sample, repeated over the batch
            bias = (bias + mask[:, None].to(q.dtype)).repeat(b // mask.shape[0], 1, 1, 1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(y.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class SwinBlock3d(nn.Module):
    """Pre-norm (shifted) window MSA + pre-norm MLP on a channels-last (B, D, H, W, C) volume."""

    def __init__(self, dim: int, window: int, shift: bool, head_dim: int = 32, mlp_ratio: int = 4,
                 qkv_bias: bool = True, dropout: float = 0.0, drop_path: float = 0.0, misfm: bool = False) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3d(dim, window, head_dim, qkv_bias, misfm)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(dim * mlp_ratio, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w, _ = x.shape
        win, s = self.window, self.window // 2
        shifted = self.shift and s > 0 and d > win  # a cube within one window is attended whole, unshifted
        t = self.norm1(x)
        if shifted:
            t = torch.roll(t, (-s, -s, -s), (1, 2, 3))
        win = min(win, int(d))
        mask = shift_mask3d(d, win, s, x.device) if shifted else None
        y = reverse3d(self.attn(partition3d(t, win), mask, win), win, b, d, h, w)
        if shifted:
            y = torch.roll(y, (s, s, s), (1, 2, 3))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SwinLayer3d(nn.Module):
    """``depth`` Swin blocks over an NCDHW volume, the odd ones shifted when ``shift`` (Swin's W-MSA / SW-MSA)."""

    def __init__(self, dim: int, window: int, depth: int = 2, shift: bool = True, head_dim: int = 32,
                 mlp_ratio: int = 4, qkv_bias: bool = True, dropout: float = 0.0, drop_path: float = 0.0,
                 misfm: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SwinBlock3d(dim, window, shift and i % 2 == 1, head_dim, mlp_ratio, qkv_bias,
                                                dropout, drop_path, misfm) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 4, 1)
        for blk in self.blocks:
            t = blk(t)
        return t.permute(0, 4, 1, 2, 3)


def swin3d_macs(dim: int, n: int, side: int, window: int, depth: int, head_dim: int, mlp_ratio: int) -> int:
    """q/k/v + output projections, the two matmuls inside windows of min(window, side)^3, the MLP; per block."""
    inner, tokens = heads_for(dim, head_dim) * head_dim, min(window, side) ** 3
    return depth * (4 * n * dim * inner + 2 * n * tokens * inner + 2 * n * dim * dim * mlp_ratio)


def window_check(h: int, window: int) -> str | None:
    if h > window and h % window:
        return (f"window {window} does not tile a side of {h} voxels: use a window that divides {h} "
                f"(or one >= {h}, which attends the whole cube)")
    return None


@register_block("swin3d", role="body", family="vol3d", dims=VOL, attention=True,
                paper="3-D (shifted) window attention: Swin (Liu et al. 2021), Video Swin (Liu et al. 2022)",
                knobs={"window": WINDOW_KNOB, "depth": int_knob(2, 1, 6, "Swin blocks (odd ones shifted)"),
                       "shift": bool_knob(True, "shift the odd blocks' windows by window // 2"),
                       "head_dim": choice_knob(32, (8, 16, 32, 64)), "mlp_ratio": int_knob(4, 1, 8),
                       "qkv_bias": bool_knob(True), "drop_path": float_knob(0.0, 0.0, 0.9)})
class Swin3d(nn.Module):
    """A 1x1x1 conv + BN to the new width when it changes, then ``depth`` Swin 3-D window-attention blocks."""

    contract_maps = (12, 24)  # every window choice tiles both

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, window: int = 4, depth: int = 2,
                 shift: bool = True, head_dim: int = 32, mlp_ratio: int = 4, qkv_bias: bool = True,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.inp = ChannelProj(in_ch, out_ch, dims=3)
        self.layer = SwinLayer3d(out_ch, window, depth, shift, head_dim, mlp_ratio, qkv_bias, 0.0, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.inp(x))

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, window: int = 4, **_: object) -> str | None:
        return window_check(h, window)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, window: int = 4, depth: int = 2,
             head_dim: int = 32, mlp_ratio: int = 4, **_: object) -> int:
        return proj3d_macs(in_ch, out_ch, 1, h, w) + swin3d_macs(out_ch, h * h * w, h, window, depth, head_dim,
                                                                 mlp_ratio)
