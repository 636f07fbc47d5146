"""LiteRT (TensorFlow Lite) on CPU (``tflite-cpu``): the runtime Android and embedded Linux deploy with.

The built network is converted with Google's ``litert-torch`` (torch.export -> LiteRT flatbuffer)
and run by ``ai-edge-litert``'s interpreter with its default XNNPACK CPU delegate, fp32, on a
fixed thread count (1 by default; ``@tN``). With one thread XNNPACK runs on the calling thread,
so the thread-CPU clock applies as for ``ort-cpu``. Optional: ``pip install 'hynas[tflite]'``
(PyPI ``ai-edge-litert`` and ``litert-torch``; both install beside the pinned torch).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch import nn

from hynas.latency.target import TARGETS, Target


def _missing() -> str | None:
    """The LiteRT package that is not importable here, or None."""
    for mod in ("ai_edge_litert.interpreter", "litert_torch"):
        try:
            with tempfile.TemporaryDirectory(prefix="hynas-tflite-") as tmp, _quiet(Path(tmp) / "log"):
                importlib.import_module(mod)  # its import prints library-loading notes
        except Exception:  # noqa: BLE001 - a broken install is as unusable as a missing one
            return mod.split(".")[0].replace("_", "-")
    return None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "missing"


def tflite_bytes(model: nn.Module, shape: tuple[int, ...]) -> bytes:
    """``model`` (eval mode) converted to a LiteRT flatbuffer for input ``shape`` with ``litert-torch``.

    The converter prints a progress log of its passes; it is kept off the terminal (its errors
    still raise)."""
    import torch

    model = model.eval()
    x = torch.randn(shape)
    with tempfile.TemporaryDirectory(prefix="hynas-tflite-") as tmp, _quiet(Path(tmp) / "log") as log:
        try:
            import litert_torch  # its first import prints library-loading notes too

            edge = litert_torch.convert(model, (x,))
            path = Path(tmp) / "model.tflite"
            edge.export(str(path))
        except Exception as e:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise RuntimeError(f"litert-torch could not convert the network: {type(e).__name__}: {e}"
                               + (f" ({' | '.join(tail)})" if tail else "")) from e
        return path.read_bytes()


@contextlib.contextmanager
def _quiet(log: Path) -> Iterator[Path]:
    """Send file descriptors 1 and 2 to ``log`` for the block: the converter's passes print a
    progress log from Python and from C++ (which ``sys.stdout`` redirection does not reach)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield log
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def interpreter(flatbuffer: bytes, threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory(prefix="hynas-tflite-") as tmp, _quiet(Path(tmp) / "log"):
        it = Interpreter(model_content=flatbuffer, num_threads=threads)  # prints a delegate note
        it.allocate_tensors()
    return it


@dataclass(frozen=True)
class TfliteCpu(Target):
    """LiteRT interpreter, XNNPACK CPU delegate, fp32, converted by litert-torch."""

    reference_spelling: ClassVar[str] = "einsum"  # hynas.latency.reference: what the converter gets right

    def unavailable(self) -> str | None:
        missing = _missing()
        if missing:
            return (f"LiteRT is not usable here ({missing} does not import); install it with "
                    f"`pip install 'hynas[tflite]'` (PyPI ai-edge-litert and litert-torch).")
        return None

    def runtime_versions(self) -> dict[str, str]:
        import torch

        return {"ai-edge-litert": _version("ai-edge-litert"), "litert-torch": _version("litert-torch"),
                "torch": torch.__version__}

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        it = interpreter(tflite_bytes(model, shape), self.threads)
        inp = it.get_input_details()[0]
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        if tuple(inp["shape"]) != tuple(shape):
            raise ValueError(f"LiteRT model expects input {tuple(inp['shape'])}, not {tuple(shape)}")
        index = inp["index"]

        def run() -> None:
            it.set_tensor(index, x)
            it.invoke()

        return run


TARGETS.register("tflite-cpu", TfliteCpu("tflite-cpu", runtime="litert", device="cpu", precision="fp32"))
