"""Learning-rate schedules after the warm-up: ``progress`` in [0, 1] -> factor of the base lr."""

from __future__ import annotations

import math
from collections.abc import Callable

from hynas.registry import Registry

SCHEDULES: Registry[Callable[[float], float]] = Registry("learning-rate schedule")


@SCHEDULES.decorator("cosine")
def cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@SCHEDULES.decorator("linear")
def linear(progress: float) -> float:
    return 1.0 - progress


@SCHEDULES.decorator("step")
def step(progress: float) -> float:
    """x0.1 at half the steps and x0.01 at three quarters (the classic ResNet steps, by fraction)."""
    return 1.0 if progress < 0.5 else 0.1 if progress < 0.75 else 0.01


@SCHEDULES.decorator("constant")
def constant(progress: float) -> float:
    return 1.0
