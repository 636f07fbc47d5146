"""ONNX export of an Arch (the legacy TorchScript exporter: fast and stable for these models)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from hynas.build import build_model
from hynas.space.arch import Arch


def export_onnx(arch: Arch, path: str | Path, resolution: int | None = None, batch: int = 1,
                opset: int = 17) -> Path:
    res = resolution or arch.input["resolution"]
    model = build_model(arch, res).eval()
    x = torch.zeros(batch, arch.input["channels"], res, res)
    p = Path(path)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(p), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["logits"])
    return p
