"""ONNX export of an Arch (the legacy TorchScript exporter: fast and stable for these models)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from hynas.build import build_model
from hynas.space.arch import Arch


def export_onnx(arch: Arch, path: str | Path, resolution: int | None = None, batch: int = 1,
                opset: int = 17, model: nn.Module | None = None) -> Path:
    """Write ``model`` (default: a fresh build of ``arch``) as ONNX with input ``input`` and output ``logits``.

    The batch axis is dynamic so the file serves both latency (batch 1) and throughput use.
    """
    res = resolution or arch.input["resolution"]
    net = (model if model is not None else build_model(arch, res)).eval()
    x = torch.zeros(arch.input_shape(batch, res))
    p = Path(path)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(p), dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return p
