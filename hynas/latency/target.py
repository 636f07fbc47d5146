"""Latency targets: a runtime, a device, a precision, a batch size and a thread count.

A target turns an ``nn.Module`` plus an example input into a zero-argument callable that
runs one inference; the timing loop times that callable. Targets join ``TARGETS`` by
decorator (``@TARGETS.decorator("name")`` on an instance) and are listed by
``hynas list targets``.

Batch is part of a target's name where it is not the default: ``ort-cpu@b32`` is
``ort-cpu`` at batch 32 (a throughput setting); it has its own predictor file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from hynas.errors import UserError
from hynas.registry import Registry

_BATCH_SUFFIX = re.compile(r"^(?P<base>[A-Za-z0-9_\-]+)@b(?P<batch>\d+)$")
THROUGHPUT_BATCH = 32


@dataclass(frozen=True)
class Target:
    """Base of all targets. Subclasses implement ``prepare`` (and ``unavailable`` if they need hardware)."""

    name: str
    runtime: str
    device: str
    precision: str
    batch: int = 1
    threads: int = 1

    @property
    def clock(self) -> str:
        """``thread-cpu`` for single-threaded CPU targets (immune to other processes), else ``wall``.

        See ``hynas.latency.timing`` for why and for the measurements behind it.
        """
        return "thread-cpu" if self.device == "cpu" and self.threads == 1 else "wall"

    def unavailable(self) -> str | None:
        """Why this target cannot run on this machine (None when it can)."""
        return None

    def runtime_versions(self) -> dict[str, str]:
        """Versions of the libraries that execute the model (part of the fingerprint)."""
        import torch

        return {"torch": torch.__version__}

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        """Compile/load ``model`` for input ``shape`` and return a callable running one inference."""
        raise NotImplementedError

    def with_batch(self, batch: int) -> Target:
        name = self.name.split("@")[0]
        return replace(self, batch=batch, name=name if batch == 1 else f"{name}@b{batch}")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runtime": self.runtime,
            "device": self.device,
            "precision": self.precision,
            "batch": self.batch,
            "threads": self.threads,
            "clock": self.clock,
        }


TARGETS: Registry[Target] = Registry("latency target", loader="hynas.latency.targets")


def resolve_target(name: str, batch: int | None = None) -> Target:
    """The target called ``name`` (``base@bN`` sets the batch), with ``batch`` overriding; checked to run here."""
    m = _BATCH_SUFFIX.match(name)
    base, suffix_batch = (m.group("base"), int(m.group("batch"))) if m else (name, None)
    target = TARGETS.get(base)
    b = batch or suffix_batch or target.batch
    if b < 1:
        raise UserError(f"batch must be at least 1, got {b}.")
    if b != target.batch:
        target = target.with_batch(b)
    why = target.unavailable()
    if why:
        raise UserError(f"target '{target.name}' cannot run on this machine: {why}")
    return target
