"""Source separation by masking, as Conv-TasNet (Luo & Mesgarani 2019) and MossFormer2 do it.

``sep_encoder`` is a learned filterbank: a 1-D conv of kernel 2s and stride s (ReLU), so a
length-L mixture becomes (C, L/s) features. The body (any 1-D blocks: the mask net) reads
them; ``mask_decoder`` estimates one mask per source from the body's output, multiplies each
with the *encoder's* features (the head is handed them: ``takes_stem``) and decodes each
masked copy with a transposed conv back to a waveform: (N, sources, L). The network then
ends in waveforms, scored by SI-SNR improvement (task ``separate``).
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.space.catalog import choice_knob

STRIDES = (4, 8, 16)


@register_block("sep_encoder", role="stem", family="separation", dims=(1,),
                paper="Conv-TasNet's learned encoder (Luo & Mesgarani 2019), as in MossFormer2",
                knobs={"hop": choice_knob(8, STRIDES, "stride of the filterbank; the kernel is twice it")})
class SepEncoder(nn.Module):
    """Conv1d (kernel 2s, stride s, padding s/2, no bias) + ReLU: L samples -> L/s frames."""

    def __init__(self, in_ch: int, out_ch: int, hop: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, 2 * hop, hop, hop // 2, bias=False)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))

    @staticmethod
    def reduction(hop: int = 8, **_: object) -> int:
        return hop

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hop: int = 8, **_: object) -> int:
        return 2 * hop * in_ch * out_ch * (h // hop)


@register_block("mask_decoder", role="head", family="separation", dims=(1,),
                paper="mask estimation + transposed-conv decoder (Conv-TasNet, Luo & Mesgarani 2019)",
                knobs={"hop": choice_knob(8, STRIDES, "the encoder's hop (must equal sep_encoder's)"),
                       "mask": choice_knob("relu", ("relu", "sigmoid"))})
class MaskDecoder(nn.Module):
    """Per-source masks (1x1 conv) on the encoder's features, each decoded to a waveform."""

    takes_stem = True  # HybridNet hands it the stem's output and width

    def __init__(self, in_ch: int, num_classes: int, hop: int = 8, mask: str = "relu",
                 stem_ch: int = 0) -> None:
        super().__init__()
        self.sources, self.enc_ch = num_classes, stem_ch or in_ch
        self.masks = nn.Conv1d(in_ch, num_classes * self.enc_ch, 1)
        self.act = nn.ReLU() if mask == "relu" else nn.Sigmoid()
        self.decoder = nn.ConvTranspose1d(self.enc_ch, 1, 2 * hop, hop, hop // 2, bias=False)

    def forward(self, x: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        b, _, frames = enc.shape
        m = self.act(self.masks(x)).reshape(b, self.sources, self.enc_ch, frames)
        y = self.decoder((m * enc.unsqueeze(1)).reshape(b * self.sources, self.enc_ch, frames))
        return y.reshape(b, self.sources, -1)

    @staticmethod
    def stem_stride(hop: int = 8, **_: object) -> int:
        return hop

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, hop: int = 8, stem_ch: int = 0,
             **_: object) -> int:
        enc = stem_ch or in_ch
        return in_ch * out_ch * enc * h + out_ch * enc * 2 * hop * h
