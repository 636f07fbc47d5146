"""A fixed reference workload, timed beside every measurement, to see how fast the machine is right now.

On the shared helper machine the CPU time of the same inference drifted by up to 2x in
phases lasting seconds, for runs of consecutive measurements (other load on the host;
``benchmarks/latency_noise.py`` and docs/BENCHMARKS.md, "Latency predictors"). Timing a fixed small network interleaved with the repeats of each
measurement, on the same target and clock, gives ``reference_ms``; a latency divided by it and
multiplied by a nominal reference (stored in each predictor file) is the latency at the
machine's nominal speed, which is what predictors are fitted to.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from hynas.latency.target import Target

REFERENCE_SHAPE = (1, 16, 16, 16)


class ReferenceNet(nn.Module):
    """Conv, depthwise conv, pointwise MLP and a token matmul: a hybrid in miniature (~0.2 ms)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(16, 32, 3, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.mlp = nn.Sequential(nn.Conv2d(32, 64, 1), nn.GELU(), nn.Conv2d(64, 32, 1))
        self.proj = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        x = x + self.mlp(self.dw(x))
        t = x.flatten(2).transpose(1, 2)  # b, n, c
        a = torch.softmax(t @ self.proj(t).transpose(1, 2) / 32**0.5, dim=-1)
        return (a @ t).mean(1)


class ReferenceNetEinsum(ReferenceNet):
    """The same network and weights with its two token products written as einsums: the spelling
    litert-torch (0.10) converts correctly; it lowers the ``@`` spelling after the conv's flatten to a
    FULLY_CONNECTED of the wrong width. Used by targets whose ``reference_spelling`` is ``einsum``; a
    reference time is only ever compared with others on the same target."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        x = x + self.mlp(self.dw(x))
        t = x.flatten(2).transpose(1, 2)
        a = torch.softmax(torch.einsum("bnc,bmc->bnm", t, self.proj(t)) / 32**0.5, dim=-1)
        return torch.einsum("bnm,bmc->bnc", a, t).mean(1)


@lru_cache(maxsize=8)
def reference_run(target: Target) -> Callable[[], Any]:
    """One inference of the reference network on the target (prepared once per target and process)."""
    net = ReferenceNetEinsum() if target.reference_spelling == "einsum" else ReferenceNet()
    return target.prepare(net.eval(), REFERENCE_SHAPE)
