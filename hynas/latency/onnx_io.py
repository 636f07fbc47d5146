"""Export a module to ONNX in memory, and quantize it to int8 (static QDQ, per-channel weights).

Uses the legacy TorchScript exporter (``dynamo=False``): it is fast enough to export one
block or one small network in well under a second, which profiling needs thousands of
times.
"""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

OPSET = 17
CALIBRATION_BATCHES = 4


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block.

    On a shared 2-core machine torch's default (one OpenMP thread per core, spinning while
    it waits) made one traced forward of a 224px hybrid take 2.6-5.9 s instead of 0.19 s
    under load, so export traces single-threaded.
    """
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def export_bytes(model: nn.Module, shape: tuple[int, ...], opset: int = OPSET) -> bytes:
    """The ONNX model of ``model`` at a fixed input shape, as bytes."""
    buf = io.BytesIO()
    x = torch.zeros(*shape)
    with warnings.catch_warnings(), torch.no_grad(), torch_threads(1):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (x,),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            do_constant_folding=True,
        )
    return buf.getvalue()


class _RandomCalibration:
    """Calibration batches of standard-normal data, seeded.

    For latency the activation ranges only set scales and zero points, not the graph or its
    kernels, so synthetic data gives the same int8 model shape and speed as real images.
    """

    def __init__(self, name: str, shape: tuple[int, ...], batches: int) -> None:
        g = torch.Generator().manual_seed(0)
        self._data = iter([{name: torch.randn(*shape, generator=g).numpy()} for _ in range(batches)])

    def get_next(self) -> dict | None:
        return next(self._data, None)


def quantize_qdq(onnx_bytes: bytes, reader: object, exclude: Sequence[str] = (),
                only: Sequence[str] | None = None) -> bytes:
    """Static post-training quantization as ``ort-cpu-int8`` deploys it: QDQ format, uint8 activations,
    per-channel int8 weights, MinMax ranges from ``reader`` (an onnxruntime ``CalibrationDataReader``:
    ``get_next()`` gives ``{input name: array}`` until None). ``exclude`` nodes stay fp32; ``only``,
    when given, is the list of nodes quantized (mixed precision)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory(prefix="hynas-q-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(logging.ERROR)  # the quantizer logs advice on the root logger; library code stays quiet
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_static(
                    str(src),
                    str(dst),
                    reader,
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=list(exclude),
                    nodes_to_quantize=list(only) if only is not None else None,
                )
        finally:
            root.setLevel(level)
        return dst.read_bytes()


def quantize_int8(onnx_bytes: bytes, shape: tuple[int, ...], batches: int = CALIBRATION_BATCHES) -> bytes:
    """The ``ort-cpu-int8`` graph of a model, calibrated on seeded random data (enough for timing)."""
    return quantize_qdq(onnx_bytes, _RandomCalibration("input", shape, batches))
