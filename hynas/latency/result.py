"""What a latency number is: the value, its spread, and everything that defines it.

A latency without its batch size, thread count, precision, runtime and machine is not
comparable to any other, so ``LatencyResult`` carries all of them, and every result and
every predictor file stores the machine fingerprint it was measured on.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    """One latency of one arch on one target (measured, or predicted from measurements)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    target: str
    batch: int
    threads: int
    precision: str
    runtime: str
    fingerprint: dict[str, Any]
    method: str  # "measured" | "predicted"
    resolution: int = 0
    clock: str = "wall"  # "thread-cpu" (CPU time of the inference thread) or "wall"
    reference_ms: float | None = None  # the reference network's time around this measurement (machine speed)
    # the median rescaled to the machine's nominal speed (the target's predictor file knows it), when known:
    # compare this, not the raw median, across measurements taken at different times on a shared machine
    nominal_ms: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d

    @property
    def spread(self) -> float:
        """(p90 - p10) / median: the relative width of the middle 80% of repeats."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else 0.0


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU model name as the OS reports it (``/proc/cpuinfo`` on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_fingerprint(runtime_versions: dict[str, str] | None = None) -> dict[str, Any]:
    """CPU model, core count, OS and runtime versions: what a latency depends on besides the model."""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "machine": platform.machine(),
        "os": platform.system(),
        "python": platform.python_version(),
        "runtime_versions": dict(runtime_versions or {}),
    }


def _minor(version: str) -> str:
    return ".".join(str(version).split("+")[0].split(".")[:2])


def fingerprint_mismatch(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences that make stored latencies unreliable here (empty when none).

    Patch versions of runtimes are ignored; CPU model, core count and runtime major.minor count.
    """
    diffs = []
    for key in ("cpu_model", "cpu_count", "machine"):
        if stored.get(key) != current.get(key):
            diffs.append(f"{key} {stored.get(key)!r} (predictor) vs {current.get(key)!r} (here)")
    sv, cv = stored.get("runtime_versions", {}), current.get("runtime_versions", {})
    for name in sorted(set(sv) & set(cv)):
        if _minor(sv[name]) != _minor(cv[name]):
            diffs.append(f"{name} {sv[name]} (predictor) vs {cv[name]} (here)")
    return diffs
