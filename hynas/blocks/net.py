"""The network skeleton every Arch builds into: stem, stages of blocks, head.

``HybridNet`` takes the arch as plain data and a name -> class mapping, so the exported
model file can reuse it verbatim with its own copy of the block classes.

Class tokens (CvT's last stage, ConViT from block 10): a layer whose instance has
``uses_cls = True`` is called as ``x, cls = layer(x, cls)`` with a (B, 1, C) token beside
the NCHW map; every other layer is called as ``x = layer(x)``. A run of consecutive cls
layers shares one token; the net creates a learned token (truncated normal, std 0.02, as
both official codes) where a run starts, in ``cls_tokens["<stage>_<layer>"]``, at that
layer's input width (the layer tells it as ``cls_in_ch``). A non-cls
layer (a downsample, a conv block) ends the run. A head with ``uses_cls`` gets the token
of a run that lasts to the end (``head(x, cls)``), otherwise just the map. Archs without
cls layers get exactly the module tree and ``state_dict`` keys they always had.

Decoder stages (temporal U-Nets, encoder-decoders): a stage with an ``upsample`` block doubles
the extent with it (kept in ``ups["<stage>"]``), and a stage with ``skip: j`` joins stage j's
output to its input, added (``merge: sum``) or concatenated along channels (``concat``).
Archs without them build the same modules as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class HybridNet(nn.Module):
    """Stem -> stages (optional downsample or upsample + skip join, then blocks) -> head."""

    def __init__(self, arch: Mapping[str, Any], blocks: Mapping[str, Any]) -> None:
        super().__init__()
        inp, stem = arch["input"], arch["stem"]
        extra = {"fields": inp["fields"]} if "fields" in inp else {}  # a field stem embeds the schema
        self.stem = blocks[stem["type"]](inp["channels"], stem["out"], **stem["knobs"], **extra)
        c = stem["out"]
        self.stages = nn.ModuleList()
        self.joins: dict[int, tuple[int, str]] = {}  # stage -> (earlier stage whose output joins it, merge)
        ups, widths = {}, []
        for si, st in enumerate(arch["stages"]):
            layers = []
            dtype = st["downsample"]["type"]
            first_stride = 2 if dtype == "block" else 1
            if dtype not in ("none", "block"):
                layers.append(blocks[dtype](c, st["blocks"][0]["out"], **st["downsample"]["knobs"]))
                c = st["blocks"][0]["out"]
            if "upsample" in st:
                ups[str(si)] = blocks[st["upsample"]["type"]](c, st["blocks"][0]["out"], **st["upsample"]["knobs"])
                c = st["blocks"][0]["out"]
            if "skip" in st:
                self.joins[si] = (st["skip"], st["merge"])
                c = c + widths[st["skip"]] if st["merge"] == "concat" else c
            for i, b in enumerate(st["blocks"]):
                layers.append(blocks[b["type"]](c, b["out"], first_stride if i == 0 else 1, **b["knobs"]))
                c = b["out"]
            self.stages.append(nn.Sequential(*layers))
            widths.append(c)
        if ups:
            self.ups = nn.ModuleDict(ups)
        head = arch["head"]
        hcls = blocks[head["type"]]
        self.head_takes_stem = bool(getattr(hcls, "takes_stem", False))  # separation: masks on the encoder's output
        more = {"stem_ch": stem["out"]} if self.head_takes_stem else {}
        self.head = hcls(c, inp["classes"], **head["knobs"], **more)
        starts = self._cls_starts()
        if starts:
            self.cls_tokens = nn.ParameterDict(
                {k: nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, w), std=0.02)) for k, w in starts.items()})

    def _cls_starts(self) -> dict[str, int]:
        """Where a run of cls layers starts -> the token width there."""
        starts, carrying = {}, False
        for si, stage in enumerate(self.stages):
            for li, layer in enumerate(stage):
                uses = bool(getattr(layer, "uses_cls", False))
                if uses and not carrying:
                    starts[f"{si}_{li}"] = int(layer.cls_in_ch)
                carrying = uses
        return starts

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for si, stage in enumerate(self.stages):
            x = stage(self._enter(si, x, outs))
            outs.append(x)
        return x

    def forward_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The final map and the class token (None when the last layer does not carry one)."""
        x = self.stem(x)
        if not hasattr(self, "cls_tokens") and not self.joins and not hasattr(self, "ups"):
            for stage in self.stages:
                x = stage(x)
            return x, None
        cls, outs = None, []
        for si, stage in enumerate(self.stages):
            x = self._enter(si, x, outs)
            if not hasattr(self, "cls_tokens"):
                x = stage(x)
                outs.append(x)
                continue
            for li, layer in enumerate(stage):
                if not getattr(layer, "uses_cls", False):
                    x, cls = layer(x), None
                    continue
                if cls is None:
                    cls = self.cls_tokens[f"{si}_{li}"].expand(x.shape[0], -1, -1)
                x, cls = layer(x, cls)
            outs.append(x)
        return x, cls

    def _enter(self, si: int, x: torch.Tensor, outs: list[torch.Tensor]) -> torch.Tensor:
        """A decoder stage's input: upsampled, then joined with an earlier stage's output (sum or concat)."""
        if hasattr(self, "ups") and str(si) in self.ups:
            x = self.ups[str(si)](x)
        if si in self.joins:
            j, merge = self.joins[si]
            x = x + outs[j] if merge == "sum" else torch.cat([x, outs[j]], 1)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head_takes_stem:
            enc = self.stem(x)
            return self.head(self._body(enc), enc)
        x, cls = self.forward_tokens(x)
        if cls is not None and getattr(self.head, "uses_cls", False):
            return self.head(x, cls)
        return self.head(x)
