"""Zero-cost proxies: score an untrained network from one batch, in a second or less.

Each proxy is registered in ``ZERO_COST`` as ``fn(model, x, y) -> float`` (higher = better
predicted accuracy) and called through ``score``, which fixes seeds, threads and the batch.
Definitions follow the papers and their official code:

- synflow, snip, grad_norm: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
  ICLR 2021 (github.com/SamsungLabs/zero-cost-nas): per-layer sums over Conv/Linear weights.
  synflow (Tanaka et al. 2020) runs in float64 on |weights|, BatchNorm removed, input of ones.
- jacob_cov: Mellor et al. 2020 v1 "NAS without training": correlation of input Jacobians.
- naswot: Mellor et al., ICML 2021: log|det K| of the Hamming kernel of binary
  activation codes of the ReLU-like units over a batch.
- params, macs: the size baselines every proxy must beat.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hynas.proxy.data import Dataset
from hynas.proxy.trainer import deterministic
from hynas.registry import Registry

Proxy = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]
ZERO_COST: Registry[Proxy] = Registry("zero-cost proxy")
_WEIGHTED = (nn.Conv2d, nn.Linear)
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU)


def batch(data: Dataset, batch_size: int, seed: int, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded batch from the train split (the same batch for every arch of a search), at ``size`` if given."""
    idx = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(seed))[:batch_size]
    return data.take(idx, size)


def score(name: str, model: nn.Module, data: Dataset, *, batch_size: int = 64, seed: int = 0,
          threads: int = 1, size: int | None = None) -> float:
    """Score ``model`` (left unchanged: proxies work on a copy) with the registered proxy ``name``,
    on a batch at ``size`` (resize + centre crop; default: the data's native size)."""
    fn = ZERO_COST.get(name)
    x, y = batch(data, batch_size, seed, size)
    with deterministic(seed, threads):
        return float(fn(copy.deepcopy(model), x, y))


def _layer_sum(model: nn.Module, per_layer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
    total = 0.0
    for m in model.modules():
        if isinstance(m, _WEIGHTED) and m.weight.grad is not None:
            total += float(per_layer(m.weight.detach(), m.weight.grad.detach()))
    return total


def _ce_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def gradient_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """grad_norm and snip from one backward pass (benchmarks scoring both save a pass)."""
    _ce_backward(model, x, y)
    return {"grad_norm": _layer_sum(model, lambda w, g: g.norm()),
            "snip": _layer_sum(model, lambda w, g: (w * g).abs().sum())}


@ZERO_COST.decorator("grad_norm")
def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over layers of the L2 norm of the loss gradient w.r.t. the weights."""
    _ce_backward(model, x, y)
    return _layer_sum(model, lambda w, g: g.norm())


@ZERO_COST.decorator("snip")
def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity sum |w * dL/dw| (Lee et al. 2019), summed over layers."""
    _ce_backward(model, x, y)
    return _layer_sum(model, lambda w, g: (w * g).abs().sum())


def _strip_batchnorm(model: nn.Module) -> nn.Module:
    """Replace BatchNorm by identity, as the official synflow does (``get_prunable_copy(bn=False)``)."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _strip_batchnorm(child)
    return model


@ZERO_COST.decorator("synflow")
def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log of sum |w * dR/dw| with R = sum of outputs of the |w| network on an all-ones input.

    Returned as a log (the raw value overflows float32 easily and only ranks matter).
    """
    model = _strip_batchnorm(model).double().eval()
    with torch.no_grad():
        for p in model.state_dict().values():
            p.abs_()
    model.zero_grad(set_to_none=True)
    model(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    total = _layer_sum(model, lambda w, g: (w * g).abs().sum())
    return math.log(total) if total > 0 else float("-inf")


def _jacob_score(jac: torch.Tensor) -> float:
    """-sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the per-sample Jacobian correlation."""
    corr = np.nan_to_num(np.corrcoef(jac.reshape(len(jac), -1).numpy().astype(np.float64)), nan=0.0)
    v = np.abs(np.linalg.eigvalsh(corr))  # symmetric PSD: eigvalsh; |.| guards round-off below zero
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@ZERO_COST.decorator("jacob_cov")
def jacob_cov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mellor et al. v1: -sum(log(v + k) + 1/(v + k)) over eigenvalues v of the Jacobian correlation.

    The Jacobian is d(sum of logits)/d(input) per sample, train-mode BatchNorm, as in
    zero-cost-nas (whose NB201 figure 0.73 this reproduces).
    """
    model.train()
    x = x.clone().requires_grad_(True)
    out = model(x)
    out.backward(torch.ones_like(out))
    return _jacob_score(x.grad)


@contextlib.contextmanager
def _hamming_kernel(model: nn.Module, n: int) -> Iterator[torch.Tensor]:
    """Accumulates K[i,j] = number of ReLU-like units on which inputs i and j agree (both on or both off)
    over every forward inside the block; the code is the sign of each unit's input (pre-activation)."""
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        codes = (inp[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.t() + (1 - codes) @ (1 - codes).t())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    try:
        yield kernel
    finally:
        for h in handles:
            h.remove()


def _logdet(kernel: torch.Tensor) -> float:
    return float(torch.linalg.slogdet(kernel)[1])


@ZERO_COST.decorator("naswot")
def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log|det K|, K[i,j] = number of ReLU-like units on which inputs i and j agree (on/off)."""
    model.train()
    with _hamming_kernel(model, len(x)) as kernel, torch.no_grad():
        model(x)
    return _logdet(kernel)


def activation_scores(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """naswot and jacob_cov from ONE forward + backward (the NASWOT authors' script scores both
    from the same pass); equal to calling each proxy alone, at about half the cost."""
    model.train()
    x = x.clone().requires_grad_(True)
    with _hamming_kernel(model, len(x)) as kernel:
        out = model(x)
    out.backward(torch.ones_like(out))
    return {"naswot": _logdet(kernel), "jacob_cov": _jacob_score(x.grad)}


@ZERO_COST.decorator("params")
def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Trainable parameter count (the baseline: bigger nets tend to be more accurate)."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


@ZERO_COST.decorator("macs")
def macs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Multiply-accumulates of one image, fvcore convention (hynas.cost.count_macs)."""
    from hynas.cost import count_macs

    return float(count_macs(model, x[:1]))


def rank_average(rows: list[dict[str, float]], names: list[str]) -> list[float]:
    """The combined score of a population: the mean over ``names`` of each arch's rank (0 = worst).

    Ranks, not raw values, because proxies live on unrelated scales (a log-determinant, a
    log-sum, a parameter count); ties share their average rank; -inf ranks lowest.
    """
    from scipy.stats import rankdata

    if not rows:
        return []
    ranks = [rankdata([r[n] for r in rows]) - 1 for n in names]
    return [float(np.mean([rk[i] for rk in ranks])) for i in range(len(rows))]
