"""Timing loop for a shared, noisy machine: warm-up, adaptive repeats, a spread check.

Each repeat is timed on its own, so the median and percentiles are of single inferences.

Clock. A single-threaded CPU target runs the whole inference on the calling thread
(checked: process and thread CPU time agree within 0.1%), so its latency on an idle core
is the thread's CPU time (``thread_time_ns``), which excludes the time the scheduler
gives to other processes (on the shared 2-core helper machine a 224 px hybrid ran
48-60 ms wall for 20-24 ms of CPU). CPU time alone is not steady there either (the host
slows down in phases); with the interleaved reference (``hynas.latency.reference``) it is
the steadiest of the ways compared in docs/BENCHMARKS.md, "Latency predictors"
(``benchmarks/latency_noise.py``). Multi-threaded and GPU targets use wall time.

Samples during which the thread was switched out (``getrusage(RUSAGE_THREAD)``: any
voluntary or involuntary context switch) pay for refilling caches; they are dropped when
enough undisturbed samples remain (always the case for sub-millisecond units here; never
for 20 ms+ networks, whose CPU time then stands as is).

Repeats continue until a minimum count and time are reached and the medians of the two
halves agree; when the middle 80% is still too wide, the round is redone and the round
with the narrowest spread is kept.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "thread-cpu": time.thread_time_ns}


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


DEFAULT = TimingPolicy()
FAST = TimingPolicy(warmup_s=0.02, min_repeats=10, min_time_s=0.05, max_time_s=0.4, retries=1)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int
    rounds: int
    clock: str = "wall"
    reference_ms: float | None = None  # median of the reference workload interleaved with the repeats

    @property
    def spread(self) -> float:
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms > 0 else 0.0


def _quantile(sorted_ms: list[float], q: float) -> float:
    i = q * (len(sorted_ms) - 1)
    lo = int(i)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (i - lo)


def _switches() -> int:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_nvcsw + r.ru_nivcsw


def _round(
    run: Callable[[], Any], p: TimingPolicy, clock: Callable[[], int], reference: Callable[[], Any] | None
) -> tuple[list[float], list[float]]:
    """Samples (ms) of one round (the undisturbed ones when there are enough of them, else all),
    and samples of the reference workload, run between repeats for about as long as the repeats."""
    t_end = time.perf_counter() + p.warmup_s
    run()
    while time.perf_counter() < t_end:
        run()
    samples: list[float] = []
    clean: list[float] = []
    refs: list[float] = []
    owed = 0.0  # ms of model time not yet matched by reference time
    start = time.perf_counter()
    while True:
        if reference is not None and owed >= 0:
            t0 = clock()
            reference()
            refs.append((clock() - t0) / 1e6)
            owed -= refs[-1]
        s0 = _switches()
        t0 = clock()
        run()
        ms = (clock() - t0) / 1e6
        owed += ms
        samples.append(ms)
        if _switches() == s0:
            clean.append(ms)
        use = clean if len(clean) >= max(p.min_repeats, len(samples) // 4) else samples
        n, elapsed = len(samples), time.perf_counter() - start
        if n >= p.max_repeats or elapsed >= p.max_time_s:
            return use, refs
        if n >= p.min_repeats and elapsed >= p.min_time_s and _stable(use, p.stable_within):
            return use, refs


def _stable(samples: list[float], within: float) -> bool:
    half = len(samples) // 2
    a, b = statistics.median(samples[:half]), statistics.median(samples[half:])
    return abs(a - b) <= within * max(a, b)


def time_callable(
    run: Callable[[], Any],
    policy: TimingPolicy = DEFAULT,
    clock: str = "wall",
    reference: Callable[[], Any] | None = None,
) -> Timing:
    """Time ``run()`` on ``clock``; returns the round with the narrowest spread (re-measured while too wide).

    With ``reference``, that workload is timed interleaved with the repeats (see ``hynas.latency.reference``).
    """
    tick = CLOCKS[clock]
    best: Timing | None = None
    rounds = 0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rounds in range(1, policy.retries + 2):
            samples, refs = _round(run, policy, tick, reference)
            s = sorted(samples)
            t = Timing(
                _quantile(s, 0.5),
                _quantile(s, 0.1),
                _quantile(s, 0.9),
                len(s),
                rounds,
                clock,
                statistics.median(refs) if refs else None,
            )
            if best is None or t.spread < best.spread:
                best = t
            if t.spread <= policy.max_spread:
                break
    finally:
        if was_enabled:
            gc.enable()
    assert best is not None
    return Timing(best.median_ms, best.p10_ms, best.p90_ms, best.repeats, rounds, clock, best.reference_ms)
