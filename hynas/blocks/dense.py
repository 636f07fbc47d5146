"""Dense outputs: per-pixel (or per-frame) logits and the 2-D upsampling of encoder-decoders.

``dense_head`` turns the last map into one logit vector per position (segmentation masks,
per-frame CTC-style logits for signals), optionally upsampled back to the input's extent
by ``scale`` (the factor the decoder leaves, as in FCN (Long et al. 2015) and DeepLab's
bilinear output stride). ``upsample2d`` doubles a map in a decoder stage (U-Net,
Ronneberger et al. 2015). MACs: the projections (interpolation carries no multiply-adds).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ConvBN
from hynas.space.catalog import choice_knob, float_knob


@register_block("dense_head", role="head", family="dense", dims=(1, 2, 3),
                paper="fully convolutional output (FCN, Long et al. 2015): a linear map per position, upsampled",
                knobs={"scale": choice_knob(1, (1, 2, 4, 8), "upsampling of the logits back to the input extent"),
                       "dropout": float_knob(0.0, 0.0, 0.9)})
class DenseHead(nn.Module):
    """Dropout, a per-position linear map to the classes, then ``scale``x upsampling (bilinear / linear)."""

    contract_knobs = {"scale": 2}  # the contract's small net leaves its map at half the input

    def __init__(self, in_ch: int, num_classes: int, scale: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.scale = scale
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = x.ndim  # explicit axes: ONNX export refuses the negative ones movedim(1, -1) makes
        last = self.fc(self.drop(x).permute(0, *range(2, nd), 1))
        y = last.permute(0, nd - 1, *range(1, nd - 1))
        if self.scale == 1:
            return y
        mode = "linear" if y.ndim == 3 else "bilinear" if y.ndim == 4 else "trilinear"
        return F.interpolate(y, scale_factor=self.scale, mode=mode, align_corners=False)

    @staticmethod
    def dense_scale(scale: int = 1, **_: object) -> int:
        return scale

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, dims: int = 2, **_: object) -> int:
        return in_ch * out_ch * h * w * (h if dims == 3 else 1)


@register_block("upsample2d", role="upsample", family="dense", dims=(2,),
                paper="U-Net decoder upsampling (Ronneberger et al. 2015): nearest x2 (+1x1 conv) or transposed conv",
                knobs={"mode": choice_knob("nearest", ("nearest", "transpose"))})
class Upsample2d(nn.Module):
    """Double the map: repeat each pixel (then 1x1 conv + BN to the new width) or a 2x2 stride-2 transposed conv."""

    def __init__(self, in_ch: int, out_ch: int, mode: str = "nearest") -> None:
        super().__init__()
        self.mode = mode
        if mode == "transpose":
            self.proj = nn.ConvTranspose2d(in_ch, out_ch, 2, 2)
        else:
            self.proj = ConvBN(in_ch, out_ch, 1, act=None) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "transpose":
            return self.proj(x)
        return self.proj(F.interpolate(x, scale_factor=2, mode="nearest"))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, mode: str = "nearest", **_: object) -> int:
        if mode == "transpose":
            return 4 * in_ch * out_ch * h * w
        return in_ch * out_ch * 4 * h * w if in_ch != out_ch else 0
