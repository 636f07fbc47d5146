"""Int8 accuracy of a trained candidate, and which blocks carry the int8 loss (Q-HyViT).

Q-HyViT (Lee et al. 2023, "Q-HyViT: Post-Training Quantization of Hybrid Vision Transformers
with Bridge Block Reconstruction") finds that hybrids lose int8 accuracy mostly at their
*bridge blocks*, where the network switches from convolution to attention. This module
measures it the way the ``ort-cpu-int8`` latency target deploys a network: the candidate is
fused (``fuse_for_inference``), exported to ONNX, and quantized by onnxruntime's static
post-training quantization (QDQ, per-channel int8 weights, uint8 activations, MinMax
ranges), here calibrated on *training* images; the held-out accuracy of the fp32 and of
the int8 graphs is then scored in onnxruntime.

Mixed precision keeps chosen blocks in fp32 (their ONNX nodes are left out of quantization):
``keep_bridges`` keeps every bridge block, ``sensitivity`` keeps one block at a time (the
accuracy it recovers is its share of the loss) and quantizes one block type at a time.
A conversion that fails raises ``CandidateError``: that candidate's failure, not the search's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hynas.errors import CandidateError
from hynas.space.arch import Arch

MAX_EVAL_IMAGES = 1000  # held-out images the search objective scores (all of digits' split)


@dataclass(frozen=True)
class BlockRef:
    """One body block of an arch and the ONNX node-name prefix its operators carry."""

    label: str  # e.g. "s3.b1.mobilevit"
    type: str
    stage: int
    index: int  # position among the stage's blocks
    prefix: str  # "/stages.2/stages.2.1/"
    attention: bool
    bridge: bool


@dataclass
class Int8Result:
    """Held-out accuracies (fractions) of one trained candidate in fp32 and int8, scored in onnxruntime."""

    fp32_accuracy: float
    int8_accuracy: float
    keep_bridges_accuracy: float | None = None
    bridges: list[str] = field(default_factory=list)
    keep_one: dict[str, float] = field(default_factory=dict)  # block kept in fp32 -> int8 accuracy
    only_type: dict[str, float] = field(default_factory=dict)  # only this block type quantized -> accuracy
    calibration_images: int = 0
    evaluated_images: int = 0

    @property
    def drop(self) -> float:
        """fp32 minus int8 accuracy (fraction; 0.01 = one point)."""
        return self.fp32_accuracy - self.int8_accuracy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"drop": self.drop}


def block_refs(arch: Arch) -> list[BlockRef]:
    """Every body block in network order; a bridge is the first attention block of a stage that follows
    a convolution block (or the stem). A block counts as attention when its family registers it so, or when
    its ``attn`` knob turns attention on (EfficientFormerV2's blocks)."""
    from hynas.blocks import catalog

    cat = catalog()
    refs: list[BlockRef] = []
    prev_attention = False
    for si, st in enumerate(arch.to_dict()["stages"]):
        offset = 0 if st["downsample"]["type"] in ("none", "block") else 1
        bridged = False
        for j, b in enumerate(st["blocks"]):
            attn = cat[b["type"]].attention or b["knobs"].get("attn") is True
            bridge = attn and not prev_attention and not bridged
            bridged = bridged or bridge
            name = st.get("name") or f"s{si + 1}"
            refs.append(BlockRef(f"{name}.b{j}.{b['type']}", b["type"], si, j, f"/stages.{si}/stages.{si}.{j + offset}/",
                                 attn, bridge))
            prev_attention = attn
    return refs


def _nodes(onnx_bytes: bytes) -> list[str]:
    import onnx

    return [n.name for n in onnx.load_from_string(onnx_bytes).graph.node]


def _nodes_of(names: Sequence[str], refs: Sequence[BlockRef]) -> list[str]:
    return [n for n in names if any(n.startswith(r.prefix) for r in refs)]


class _Batches:
    """onnxruntime calibration reader over fixed-size batches of images."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._it = iter([{"input": b} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_calibrated(onnx_bytes: bytes, calibration: list[np.ndarray], exclude: Sequence[str] = (),
                        only: Sequence[str] | None = None) -> bytes:
    """The ``ort-cpu-int8`` quantization (``hynas.latency.onnx_io.quantize_qdq``) calibrated on the given
    batches; ``exclude`` nodes stay fp32, ``only`` restricts quantization. A failure is the candidate's."""
    from hynas.latency.onnx_io import quantize_qdq

    try:
        return quantize_qdq(onnx_bytes, _Batches(calibration), exclude=exclude, only=only)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises many kinds; each fails this candidate only
        raise CandidateError(f"int8 quantization failed: {type(e).__name__}: {str(e)[:300]}") from None


def onnx_accuracy(model_bytes: bytes, batches: list[np.ndarray], labels: list[np.ndarray]) -> float:
    """Top-1 accuracy of an ONNX classifier over fixed-size batches (a padded last batch is sliced)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - a graph onnxruntime refuses fails this candidate only
        raise CandidateError(f"onnxruntime cannot load the model: {type(e).__name__}: {str(e)[:300]}") from None
    correct = total = 0
    for x, y in zip(batches, labels):
        logits = sess.run(None, {"input": x})[0][: len(y)]
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    return correct / max(1, total)


def _batched(x: torch.Tensor, y: torch.Tensor | None, batch: int, size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from hynas.proxy.augment import resize_center

    xs, ys = [], []
    for i in range(0, len(x), batch):
        xb = resize_center(x[i:i + batch], size).float()
        n = len(xb)
        if n < batch:
            xb = torch.cat([xb, xb.new_zeros(batch - n, *xb.shape[1:])])
        xs.append(xb.contiguous().numpy())
        ys.append(y[i:i + n].numpy() if y is not None else np.zeros(n, dtype=np.int64))
    return xs, ys


def int8_accuracy(model: nn.Module, arch: Arch, data: Any, *, resolution: int | None = None, batch: int = 32,
                  calibration_images: int = 128, max_eval: int | None = None, keep_bridges: bool = True,
                  sensitivity: bool = False, seed: int = 0) -> Int8Result:
    """fp32 and int8 held-out accuracy of a trained ``model`` of ``arch`` on ``data`` (a proxy ``Dataset``).

    Calibration uses ``calibration_images`` training images drawn with ``seed``; evaluation the
    held-out split (the first ``max_eval`` images when given). With ``sensitivity`` every block is
    also kept in fp32 alone, and every block type quantized alone.
    """
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.onnx_io import export_bytes

    size = resolution or arch.input["resolution"]
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(data.train_y), generator=g)[:calibration_images]
    calib, _ = _batched(data.train_x[pick], None, batch, size)
    n_eval = len(data.val_y) if max_eval is None else min(max_eval, len(data.val_y))
    xs, ys = _batched(data.val_x[:n_eval], data.val_y[:n_eval], batch, size)
    net = fuse_for_inference(copy.deepcopy(model).cpu().eval())
    try:
        fp32 = export_bytes(net, (batch, data.channels, size, size))
    except Exception as e:  # noqa: BLE001 - an op the exporter refuses fails this candidate only
        raise CandidateError(f"ONNX export for int8 failed: {type(e).__name__}: {str(e)[:300]}") from None
    refs, names = block_refs(arch), _nodes(fp32)
    res = Int8Result(onnx_accuracy(fp32, xs, ys), onnx_accuracy(quantize_calibrated(fp32, calib), xs, ys),
                     bridges=[r.label for r in refs if r.bridge], calibration_images=len(pick),
                     evaluated_images=n_eval)
    if keep_bridges and res.bridges:
        kept = _nodes_of(names, [r for r in refs if r.bridge])
        res.keep_bridges_accuracy = onnx_accuracy(quantize_calibrated(fp32, calib, exclude=kept), xs, ys)
    if sensitivity:
        for r in refs:
            q = quantize_calibrated(fp32, calib, exclude=_nodes_of(names, [r]))
            res.keep_one[r.label] = onnx_accuracy(q, xs, ys)
        for t in sorted({r.type for r in refs}):
            q = quantize_calibrated(fp32, calib, only=_nodes_of(names, [r for r in refs if r.type == t]))
            res.only_type[t] = onnx_accuracy(q, xs, ys)
    return res


def accuracy_int8(model: nn.Module, data: Any, *, seed: int = 0, resolution: int | None = None,
                  arch: Arch | None = None, int8_keep_bridges: bool = False, **_: Any) -> dict[str, Any]:
    """Held-out accuracy in onnxruntime after int8 quantization as ort-cpu-int8 deploys it (static QDQ).

    The trained candidate is quantized as the ``ort-cpu-int8`` target deploys it (with
    ``int8_keep_bridges`` its bridge blocks stay fp32) and scored in onnxruntime.

    Beside it: ``int8_drop`` (fp32 minus that accuracy, both in onnxruntime on the same held-out
    images), ``int8_fp32_accuracy``, ``int8_all_accuracy`` (every block int8) and the bridges.
    """
    if arch is None:
        raise CandidateError("accuracy_int8 needs the candidate's arch (its blocks name the ONNX nodes)")
    r = int8_accuracy(model, arch, data, resolution=resolution, keep_bridges=int8_keep_bridges, seed=seed,
                      max_eval=MAX_EVAL_IMAGES)
    value = r.keep_bridges_accuracy if int8_keep_bridges and r.keep_bridges_accuracy is not None else r.int8_accuracy
    return {"accuracy_int8": value, "int8_drop": r.fp32_accuracy - value, "int8_fp32_accuracy": r.fp32_accuracy,
            "int8_all_accuracy": r.int8_accuracy, "int8_bridges": list(r.bridges),
            "int8_keep_bridges": bool(int8_keep_bridges), "int8_eval_images": r.evaluated_images}
