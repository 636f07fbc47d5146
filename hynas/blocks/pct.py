"""MIS-FM's parallel convolution + transformer (PCT) block: ``x = ConvBlock3d(x) + SwinWindowTransformer3d(x)``.

PCT-Net (Wang et al. 2023, "MIS-FM: 3D Medical Image Segmentation using Foundation Models
Pretrained on a Large-Scale Unannotated Dataset", arXiv:2306.16925) runs, at each of its three
deepest levels, a conv branch and a Swin branch on the same input and adds them
(openmedlab/MIS-FM ``net/pct_net.py`` ``ConvTransBlock`` @ 1506d6591a3083575b59b53b88210a110a0a4a36):

- conv branch (``ConvBlock(dim=3)``): BN -> PReLU -> 3x3x3 conv -> BN -> PReLU -> dropout -> 3x3x3 conv,
  biased convs, no residual of its own;
- Swin branch (``net/transformer.py`` ``BasicLayer``): ``depth`` pre-norm Swin blocks (window MSA
  with a ((2w-1)^3, heads) relative position bias, then a 4x GELU MLP), the odd ones on windows
  shifted by w // 2, each with its own residuals; the bias table indexed with the official
  strides (see ``hynas.blocks.vol3d.rel_index3d``).

The sum is inside the block, so one registered body block is one ``ConvTransBlock``. Not carried
over: the official block's unused ``norm_layer`` LayerNorm (parameters, never called) and the
attention-probability dropout (the MLP dropouts are). The official block keeps its width; here a
width change runs the conv branch's first conv to the new width and a 1x1x1 conv before the Swin
branch. MACs: both convs, the projection, and ``swin3d``'s attention and MLP terms.
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.vol3d import (
    VOL,
    WINDOW_KNOB,
    PreactConv3d,
    SwinLayer3d,
    conv3d_macs,
    swin3d_macs,
    window_check,
)
from hynas.space.catalog import bool_knob, choice_knob, float_knob, int_knob


@register_block("pct", role="body", family="misfm", dims=VOL, attention=True,
                paper="MIS-FM PCT-Net parallel conv + Swin block (Wang et al. 2023, arXiv:2306.16925; "
                      "openmedlab/MIS-FM net/pct_net.py ConvTransBlock)",
                knobs={"window": choice_knob(6, WINDOW_KNOB.choices, WINDOW_KNOB.doc),
                       "depth": int_knob(2, 1, 6, "Swin blocks in the transformer branch (odd ones shifted)"),
                       "shift": bool_knob(True, "shift the odd Swin blocks' windows by window // 2"),
                       "head_dim": choice_knob(32, (8, 16, 32, 64), "PCT-Net: 128/256/512 wide, 4/8/16 heads"),
                       "mlp_ratio": int_knob(4, 1, 8),
                       "dropout": float_knob(0.0, 0.0, 0.9, "conv-branch and MLP dropout (PCT-Net: 0.2)"),
                       "drop_path": float_knob(0.0, 0.0, 0.9, "stochastic depth in the Swin blocks (PCT-Net: 0.2)")})
class PCTBlock(nn.Module):
    """Pre-activated two-conv branch + Swin window-attention branch on the same input, summed."""

    contract_maps = (12, 24)  # every window choice tiles both

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, window: int = 6, depth: int = 2,
                 shift: bool = True, head_dim: int = 32, mlp_ratio: int = 4, dropout: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Sequential(PreactConv3d(in_ch, out_ch, 3, act="prelu"),
                                  PreactConv3d(out_ch, out_ch, 3, act="prelu", dropout=dropout))
        self.inp = nn.Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.trans = SwinLayer3d(out_ch, window, depth, shift, head_dim, mlp_ratio, True, dropout, drop_path,
                                 misfm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.trans(self.inp(x))

    @staticmethod
    def check_map(h: int, w: int, stride: int, *, window: int = 6, **_: object) -> str | None:
        return window_check(h, window)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, window: int = 6, depth: int = 2,
             head_dim: int = 32, mlp_ratio: int = 4, **_: object) -> int:
        n = h * h * w
        convs = conv3d_macs(in_ch, out_ch, 3, n) + conv3d_macs(out_ch, out_ch, 3, n)
        proj = in_ch * out_ch * n if in_ch != out_ch else 0
        return convs + proj + swin3d_macs(out_ch, n, h, window, depth, head_dim, mlp_ratio)
