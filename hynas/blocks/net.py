"""The network skeleton every Arch builds into: stem, stages of blocks, head.

``HybridNet`` takes the arch as plain data and a name -> class mapping, so the exported
model file can reuse it verbatim with its own copy of the block classes.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn


class HybridNet(nn.Module):
    """Stem -> stages (optional downsample, then blocks) -> classifier head."""

    def __init__(self, arch: Mapping[str, Any], blocks: Mapping[str, Any]) -> None:
        super().__init__()
        inp, stem = arch["input"], arch["stem"]
        self.stem = blocks[stem["type"]](inp["channels"], stem["out"], **stem["knobs"])
        c = stem["out"]
        self.stages = nn.ModuleList()
        for st in arch["stages"]:
            layers = []
            dtype = st["downsample"]["type"]
            first_stride = 2 if dtype == "block" else 1
            if dtype not in ("none", "block"):
                layers.append(blocks[dtype](c, st["blocks"][0]["out"], **st["downsample"]["knobs"]))
                c = st["blocks"][0]["out"]
            for i, b in enumerate(st["blocks"]):
                layers.append(blocks[b["type"]](c, b["out"], first_stride if i == 0 else 1, **b["knobs"]))
                c = b["out"]
            self.stages.append(nn.Sequential(*layers))
        head = arch["head"]
        self.head = blocks[head["type"]](c, inp["classes"], **head["knobs"])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))
