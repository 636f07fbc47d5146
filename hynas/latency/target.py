"""Latency targets: a runtime, a device, a precision, a batch size and a thread count.

A target turns an ``nn.Module`` plus an example input into a zero-argument callable that
runs one inference; the timing loop times that callable. Targets join ``TARGETS`` by
decorator (``@TARGETS.decorator("name")`` on an instance) and are listed by
``hynas list targets``.

Batch and thread count are part of a target's name where they are not the default:
``ort-cpu@b32`` is ``ort-cpu`` at batch 32 (a throughput setting), ``ort-cpu@t4`` on four
intra-op threads, ``ort-cpu@t4@b32`` both; each has its own predictor file. A target not
registered here can be defined by a predictor file made from a profile kit
(``hynas.latency.targets.kit``): it predicts only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from torch import nn

from hynas.errors import UserError
from hynas.registry import Registry

_SUFFIX = re.compile(r"^(?P<kind>[tb])(?P<n>\d+)$")
SUFFIX_KINDS = {"t": "threads", "b": "batch"}
THROUGHPUT_BATCH = 32
MAX_THREADS = 256


@dataclass(frozen=True)
class Target:
    """Base of all targets. Subclasses implement ``prepare`` (and ``unavailable`` if they need hardware)."""

    name: str
    runtime: str
    device: str
    precision: str
    batch: int = 1
    threads: int = 1
    #: how the reference network is written for this runtime (``hynas.latency.reference``): ``matmul``, or
    #: ``einsum`` where a converter mis-lowers the matmul spelling; the same network either way
    reference_spelling: ClassVar[str] = "matmul"

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

    @property
    def base_name(self) -> str:
        return self.name.split("@")[0]

    @property
    def default_threads(self) -> int:
        """The thread count of the registered target (``@tN`` changes it)."""
        base = self.base_name
        return TARGETS.get(base).threads if base in TARGETS else self.threads

    def variant(self, threads: int | None = None, batch: int | None = None) -> Target:
        """This target on ``threads`` intra-op threads and at ``batch``; the name says what differs."""
        t, b = threads or self.threads, batch or self.batch
        name = self.base_name + (f"@t{t}" if t != self.default_threads else "") + (f"@b{b}" if b != 1 else "")
        return replace(self, threads=t, batch=b, name=name)

    def with_batch(self, batch: int) -> Target:
        return self.variant(batch=batch)

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


def parse_target_name(name: str) -> tuple[str, dict[str, int]]:
    """``base@tN@bM`` -> ``("base", {"threads": N, "batch": M})``; an unknown or repeated suffix is a UserError."""
    base, *suffixes = name.split("@")
    out: dict[str, int] = {}
    for s in suffixes:
        m = _SUFFIX.match(s)
        if not m or SUFFIX_KINDS[m.group("kind")] in out:
            raise UserError(
                f"target '{name}': suffix '@{s}' is not allowed. Allowed: @tN (N intra-op threads, "
                f"1..{MAX_THREADS}) and @bN (batch N), each at most once, e.g. ort-cpu@t4@b32."
            )
        n = int(m.group("n")) if len(m.group("n")) <= 9 else 0  # thousands of digits: refused, not parsed
        if not 1 <= n <= (MAX_THREADS if m.group("kind") == "t" else 1 << 16):
            raise UserError(f"target '{name}': '@{s}' is out of range (threads 1..{MAX_THREADS}, batch >= 1).")
        out[SUFFIX_KINDS[m.group("kind")]] = n
    return base, out


def lookup_target(name: str, batch: int | None = None) -> Target:
    """The target called ``name`` (suffixes applied, ``batch`` overriding), not checked to run here."""
    base, opts = parse_target_name(name)
    if base in TARGETS:
        target = TARGETS.get(base)
    else:
        from hynas.latency.targets.kit import kit_target

        target = kit_target(name) or TARGETS.get(base)  # the registry's error lists the known names
        if opts:
            raise UserError(f"target '{name}' is defined by a profile-kit predictor; it takes no @ suffix.")
        return target
    if "threads" in opts and target.device != "cpu":
        raise UserError(f"target '{name}': @tN sets CPU threads; '{base}' runs on {target.device}.")
    if batch is not None and batch < 1:
        raise UserError(f"batch must be at least 1, got {batch}.")
    return target.variant(opts.get("threads"), batch or opts.get("batch"))


def resolve_target(name: str, batch: int | None = None) -> Target:
    """The target called ``name`` (``base@tN@bM``), with ``batch`` overriding; checked to run here."""
    target = lookup_target(name, batch)
    why = target.unavailable()
    if why:
        raise UserError(f"target '{target.name}' cannot run on this machine: {why}")
    return target
