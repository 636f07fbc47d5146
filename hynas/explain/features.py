"""Feature maps of a frozen classifier, taken from named modules by forward hooks.

A hybrid's stages emit NCHW maps (conv blocks) or, in other networks, token sequences
(B, N, C). Tokens are reshaped to maps the way T-TAME does for ViT-B/16: a leading class
token is dropped when the rest is a square number of tokens, and the remaining N tokens
become a sqrt(N) x sqrt(N) map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from hynas.errors import UserError


def as_map(t: torch.Tensor | tuple) -> torch.Tensor:
    """An NCHW map from a module output: a map as is, (B, N, C) tokens reshaped, a tuple's first item."""
    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.ndim == 4:
        return t
    if t.ndim == 3:
        b, n, c = t.shape
        side = math.isqrt(n)
        if side * side != n and math.isqrt(n - 1) ** 2 == n - 1:
            t, n, side = t[:, 1:], n - 1, math.isqrt(n - 1)
        if side * side == n:
            return t.transpose(1, 2).reshape(b, c, side, side)
    raise ValueError(f"cannot read a feature map from an output of shape {tuple(t.shape)}")


def default_layers(model: nn.Module, count: int = 3) -> list[str]:
    """The outputs of the last ``count`` stages (``stages.i``) of a hynas network, exported or not."""
    stages = getattr(model, "stages", None)
    if not isinstance(stages, nn.ModuleList) or len(stages) == 0:
        raise UserError("the model has no 'stages' list (not a hynas network): name the layers to explain "
                        "with --layers (module names as in model.named_modules()).")
    n = len(stages)
    return [f"stages.{i}" for i in range(max(0, n - count), n)]


def check_layers(model: nn.Module, layers: Sequence[str]) -> None:
    names = dict(model.named_modules())
    missing = [n for n in layers if n not in names]
    if missing:
        known = ", ".join(n for n in names if n.count(".") <= 1 and n)[:400]
        raise UserError(f"--layers: no module named {', '.join(missing)} in the model. Known (top levels): {known}.")


@contextmanager
def hooked(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward of ``model`` fills the dict with the named modules' maps."""
    found: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())

    def hook_for(name: str):
        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            found[name] = as_map(out)
        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in layers]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()
