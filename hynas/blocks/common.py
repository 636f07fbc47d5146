"""Small pieces shared by block families: activations, norms, conv+BN, squeeze-excite, MLPs.

Everything here uses only torch so the exporter can copy it into a standalone file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.space.catalog import choice_knob

ACTIVATIONS = ("relu", "gelu", "silu", "hardswish", "star_relu")
ACT_KNOB = choice_knob("gelu", ACTIVATIONS, "activation function")


class StarReLU(nn.Module):
    """s * relu(x)^2 + b with learnable scalars s and b (MetaFormer baselines, Yu et al. 2022)."""

    def __init__(self, scale: float = 0.8944, bias: float = -0.4472) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([scale]))
        self.bias = nn.Parameter(torch.tensor([bias]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.relu(x) ** 2 + self.bias


def make_act(name: str) -> nn.Module:
    """An activation module by name (one of ACTIVATIONS)."""
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU()
    if name == "hardswish":
        return nn.Hardswish()
    if name == "star_relu":
        return StarReLU()
    if name == "prelu":  # MIS-FM's; not among the ACTIVATIONS a knob offers
        return nn.PReLU()
    raise ValueError(f"unknown activation {name!r}")


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvBN(nn.Sequential):
    """Conv (no bias) + BatchNorm + optional activation, 'same' padding, over ``dims`` spatial axes (2: NCHW)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: str | None = "gelu", dims: int = 2) -> None:
        conv, norm = getattr(nn, f"Conv{dims}d"), getattr(nn, f"BatchNorm{dims}d")
        layers = [conv(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False), norm(out_ch)]
        if act is not None:
            layers.append(make_act(act))
        super().__init__(*layers)


def conv_macs(in_ch: int, out_ch: int, kernel: int, h_out: int, w_out: int, groups: int = 1) -> int:
    return kernel * kernel * (in_ch // groups) * out_ch * h_out * w_out


def down(h: int, stride: int) -> int:
    """Output size of a padded conv with this stride (ceil division)."""
    return (h + stride - 1) // stride


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from global pooling."""

    def __init__(self, channels: int, reduced: int, act: str = "silu") -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = make_act(act)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class ChannelProj(nn.Module):
    """Match a residual input to a block's output: optional stride-2 average pool, then 1x1 conv + BN
    (over ``dims`` spatial axes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dims: int = 2) -> None:
        super().__init__()
        pool = getattr(nn, f"AvgPool{dims}d")
        self.pool = pool(2, 2, ceil_mode=True, count_include_pad=False) if stride == 2 else nn.Identity()
        self.proj = ConvBN(in_ch, out_ch, 1, act=None, dims=dims) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(x))


def proj_macs(in_ch: int, out_ch: int, stride: int, h: int, w: int) -> int:
    return in_ch * out_ch * down(h, stride) * down(w, stride) if in_ch != out_ch else 0


class ConvMlp(nn.Module):
    """Pointwise MLP on a map: 1x1 conv, activation, 1x1 conv."""

    def __init__(self, dim: int, hidden: int, act: str = "gelu", out_dim: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(hidden, out_dim or dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def fused_mhsa(t: torch.Tensor, qkv: nn.Module, proj: nn.Module, heads: int, head_dim: int) -> torch.Tensor:
    """Multi-head self-attention over tokens (B, N, C): one fused q/k/v projection, SDPA, output projection."""
    b, n, _ = t.shape
    q, k, v = qkv(t).reshape(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v)
    return proj(y.transpose(1, 2).reshape(b, n, heads * head_dim))


def heads_for(dim: int, head_dim: int) -> int:
    """Number of attention heads for a width and a head size (at least one)."""
    return max(1, dim // head_dim)
