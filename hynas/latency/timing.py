"""Timing loop for a shared, noisy machine: warm-up, adaptive repeats, a spread check.

Each repeat is timed on its own with ``perf_counter_ns`` so the median and the
percentiles are of single inferences. Repeats continue until a minimum count and time
are reached and the median of the second half agrees with the first half's; when the
middle 80% is still too wide (another process stole the core), the whole round is redone
and the round with the narrowest spread is kept.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how carefully to time one callable."""

    warmup_s: float = 0.05
    min_repeats: int = 10
    min_time_s: float = 0.2
    max_time_s: float = 1.5
    max_repeats: int = 5000
    stable_within: float = 0.03  # halves' medians must agree this closely
    max_spread: float = 0.25  # (p90 - p10) / median above this -> measure the round again
    retries: int = 2


FAST = TimingPolicy(warmup_s=0.02, min_repeats=10, min_time_s=0.06, max_time_s=0.5, retries=1)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    rounds: int

    @property
    def spread(self) -> float:
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else 0.0


def _quantile(sorted_ms: list[float], q: float) -> float:
    i = q * (len(sorted_ms) - 1)
    lo = int(i)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (i - lo)


def _round(run: Callable[[], Any], p: TimingPolicy) -> list[float]:
    t_end = time.perf_counter() + p.warmup_s
    run()
    while time.perf_counter() < t_end:
        run()
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        n, elapsed = len(samples), time.perf_counter() - start
        if n >= p.max_repeats or elapsed >= p.max_time_s:
            return samples
        if n >= p.min_repeats and elapsed >= p.min_time_s and _stable(samples, p.stable_within):
            return samples


def _stable(samples: list[float], within: float) -> bool:
    half = len(samples) // 2
    a, b = statistics.median(samples[:half]), statistics.median(samples[half:])
    return abs(a - b) <= within * max(a, b)


def time_callable(run: Callable[[], Any], policy: TimingPolicy = TimingPolicy()) -> Timing:
    """Time ``run()``; returns the round with the narrowest spread (re-measured while too wide)."""
    best: Timing | None = None
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(policy.retries + 1):
            s = sorted(_round(run, policy))
            t = Timing(_quantile(s, 0.5), _quantile(s, 0.1), _quantile(s, 0.9), len(s), r + 1)
            if best is None or t.spread < best.spread:
                best = Timing(t.median_ms, t.p10_ms, t.p90_ms, t.repeats, r + 1)
            if t.spread <= policy.max_spread:
                break
    finally:
        if was_enabled:
            gc.enable()
    assert best is not None
    return Timing(best.median_ms, best.p10_ms, best.p90_ms, best.repeats, r + 1)
