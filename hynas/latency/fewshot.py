"""Few-shot latency transfer: a fully profiled source device, K archs measured on a new one.

The source (every arch known, or a per-unit predictor) gives a cost per op type; the new
device runs the same ops at other relative speeds, and its runtime may not execute the same
graph. Two things are fitted from the K, both chosen by leave-one-out error on the K alone:

- **which graph the runtime executes** (a *view*): every op as written (eager PyTorch), or only
  the ops whose result reaches the output (a converter that removes dead code, as the Pixel 3's
  TFLite numbers show), where an arch whose output does not depend on its input folds to a
  constant. Each view is an op-count matrix plus a mask of folded archs; the caller builds them
  from the arch's graph (:func:`nb201_views` for NAS-Bench-201 cells).
- **per-op costs on the new device**: intercept + one cost per op type, fitted in relative
  error with a ridge prior toward the source's costs times one global factor (the median
  ratio), the prior's strength chosen by leave-one-out. With few archs the fit stays at the
  source's ratios; with informative archs it moves to the device's own.

Which archs to measure matters as much as how many: :func:`choose` picks them far apart in
op-count space (k-centre on the views' counts), so every op cost and the view are identified;
random, k-medoids and D-optimal choices are there to compare against.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

RIDGES = (0.03, 0.3, 3.0, 30.0, 300.0)
MAX_LOG_ERR = math.log(3.0)  # one arch off by more than 3x (a folded graph) counts as 3x in the choice


@dataclass(frozen=True)
class View:
    """One hypothesis of what the runtime executes: ops per type per arch, and the archs it folds."""

    counts: np.ndarray  # (n_archs, n_op_types)
    folded: np.ndarray  # (n_archs,) bool: output does not depend on the input, nothing runs

    @cached_property
    def x(self) -> np.ndarray:
        """``[1, counts]``: the rows every cost fit and prediction use (computed once)."""
        return np.concatenate([np.ones((len(self.counts), 1)), self.counts], axis=1)


@dataclass(frozen=True)
class FewShotFit:
    """The chosen view and ridge, the new device's intercept + per-op costs (ms), and the LOO scores."""

    view: str
    ridge: float
    coef: np.ndarray
    folded_ms: float | None  # median of the measured folded archs; None when none was measured
    loo: dict[str, float] = field(default_factory=dict)  # "view:ridge" -> RMS clipped log error

    def predict(self, views: dict[str, View]) -> np.ndarray:
        """Latency (ms) of every arch of the chosen view; folded archs at ``folded_ms`` (else 1% of the fastest)."""
        v = views[self.view]
        pred = v.x @ self.coef
        if v.folded.any():
            live = pred[~v.folded]
            low = self.folded_ms if self.folded_ms is not None else 0.01 * float(live.min() if len(live) else 1.0)
            pred = np.where(v.folded, low, pred)
        return pred


def source_costs(view: View, y: np.ndarray) -> np.ndarray:
    """Intercept + per-op costs of a fully profiled device (least squares on its executed archs)."""
    m = ~view.folded
    coef, *_ = np.linalg.lstsq(view.x[m], y[m], rcond=None)
    return coef


def best_source_view(views: dict[str, View], y: np.ndarray) -> tuple[str, np.ndarray]:
    """The view that explains the source's own table best (clipped log error), and its costs."""
    scored = {}
    for name, v in views.items():
        coef = source_costs(v, y)
        fit = FewShotFit(name, 0.0, coef, _median_or_none(y[v.folded]))
        scored[name] = (_log_rmse(fit.predict(views), y), coef)
    name = min(scored, key=lambda n: scored[n][0])
    return name, scored[name][1]


def _median_or_none(x: np.ndarray) -> float | None:
    return float(np.median(x)) if len(x) else None


def _log_rmse(pred: np.ndarray, y: np.ndarray) -> float:
    err = np.minimum(np.abs(np.log(np.maximum(pred, 1e-9) / y)), MAX_LOG_ERR)
    return float(np.sqrt(np.mean(err**2)))


def fit_costs(x: np.ndarray, y: np.ndarray, prior: np.ndarray, ridge: float) -> np.ndarray:
    """Intercept + per-op costs from K rows ``x`` (``[1, counts]``) in relative error, ridge toward
    ``g * prior`` (g: the median of y over the prior's prediction); each cost's pull is relative to
    its own size (floored at a tenth of the largest) so small and large ops move alike."""
    base = x @ prior
    g = float(np.median(y / np.where(np.abs(base) > 1e-12, base, 1e-12)))
    mean = g * prior
    scale = np.maximum(np.abs(mean), 0.1 * np.abs(mean).max() + 1e-12)
    pen = np.diag(math.sqrt(ridge) / scale)
    lhs = np.concatenate([x / y[:, None], pen])
    rhs = np.concatenate([np.ones(len(y)), pen @ mean])
    coef, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return coef


def _fit_view(v: View, idx: np.ndarray, y: np.ndarray, prior: np.ndarray, ridge: float, name: str) -> FewShotFit:
    live = idx[~v.folded[idx]]
    coef = fit_costs(v.x[live], y[live], prior, ridge) if len(live) else prior  # nothing ran: no scale
    return FewShotFit(name, ridge, coef, _median_or_none(y[idx[v.folded[idx]]]))


def _loo(v: View, idx: np.ndarray, y: np.ndarray, prior: np.ndarray, ridge: float, name: str) -> float:
    err = []
    for i in range(len(idx)):
        rest, held = np.delete(idx, i), idx[i]
        f = _fit_view(v, rest, y, prior, ridge, name)
        if v.folded[held]:
            p = f.folded_ms if f.folded_ms is not None else 0.0
        else:
            p = float(v.x[held] @ f.coef)
        err.append(min(abs(math.log(max(p, 1e-9) / y[held])), MAX_LOG_ERR))
    return float(np.sqrt(np.mean(np.square(err))))


def fit_fewshot(
    views: dict[str, View],
    prior: np.ndarray,
    idx: Sequence[int],
    y: np.ndarray,
    ridges: Sequence[float] = RIDGES,
) -> FewShotFit:
    """Adapt to the new device from the archs ``idx`` whose latencies are ``y[idx]`` (other entries of
    ``y`` are not read). ``prior``: the source's intercept + per-op costs (:func:`best_source_view`).
    The view and ridge with the lowest leave-one-out error on the K win (ties: the first view given)."""
    idx = np.asarray(idx, dtype=int)
    if len(idx) < 3:
        raise ValueError(f"few-shot transfer needs at least 3 measured archs, got {len(idx)}")
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y[idx])) or np.any(y[idx] <= 0):
        raise ValueError("few-shot transfer needs finite, positive latencies for the measured archs")
    loo = {f"{n}:{r:g}": _loo(v, idx, y, prior, r, n) for n, v in views.items() for r in ridges}
    best = min(loo, key=loo.__getitem__)
    name, ridge = best.rsplit(":", 1)
    fit = _fit_view(views[name], idx, y, prior, float(ridge), name)
    return FewShotFit(fit.view, fit.ridge, fit.coef, fit.folded_ms, loo)


@dataclass(frozen=True)
class FewShotMix:
    """Every view's own fit, weighted by how well its leave-one-out predictions explain the K."""

    fits: dict[str, FewShotFit]
    weights: dict[str, float]

    def predict(self, views: dict[str, View]) -> np.ndarray:
        """Geometric mean of the views' predictions under their weights (ms)."""
        logs = sum(w * np.log(np.maximum(self.fits[v].predict(views), 1e-12)) for v, w in self.weights.items())
        return np.exp(logs)


def fit_fewshot_mix(
    views: dict[str, View], prior: np.ndarray, idx: Sequence[int], y: np.ndarray, ridges: Sequence[float] = RIDGES
) -> FewShotMix:
    """Like :func:`fit_fewshot` but keeps every view: each fitted with its best ridge, weighted by a
    Gaussian likelihood of its LOO errors with the best view's variance, exp(-K/2 (e_v^2 / e_min^2 - 1)).
    With K archs that cannot tell the views apart both count; with clear evidence one takes all."""
    fits = {v: fit_fewshot({v: views[v]}, prior, idx, y, ridges) for v in views}
    err = {v: f.loo[f"{v}:{f.ridge:g}"] for v, f in fits.items()}
    low = max(min(err.values()), 1e-9)
    raw = {v: math.exp(-len(idx) / 2 * (e**2 / low**2 - 1)) for v, e in err.items()}
    total = sum(raw.values())
    return FewShotMix(fits, {v: w / total for v, w in raw.items()})


def design_features(views: dict[str, View]) -> np.ndarray:
    """What the choice of archs should spread: every view's op counts and folded flag, side by side."""
    return np.concatenate([np.concatenate([v.counts, v.folded[:, None]], axis=1) for v in views.values()], axis=1)


def _standard(f: np.ndarray) -> np.ndarray:
    return (f - f.mean(0)) / np.maximum(f.std(0), 1e-9)


def kcentre(features: np.ndarray, k: int, start: int = 0) -> list[int]:
    """Farthest-point choice: each next arch the one farthest from those chosen (standardised features)."""
    f = _standard(np.asarray(features, float))
    chosen, dist = [start], np.linalg.norm(f - f[start], axis=1)
    while len(chosen) < min(k, len(f)):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, np.linalg.norm(f - f[j], axis=1))
    return chosen


def dopt(features: np.ndarray, k: int, delta: float = 1e-3) -> list[int]:
    """Greedy D-optimal choice (each next arch the one that most raises log det of the information)."""
    f = _standard(np.asarray(features, float))
    f = np.concatenate([np.ones((len(f), 1)), f], axis=1)
    info, chosen = delta * np.eye(f.shape[1]), []
    while len(chosen) < min(k, len(f)):
        gain = np.einsum("ij,jk,ik->i", f, np.linalg.inv(info), f)
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        info = info + np.outer(f[j], f[j])
    return chosen


def kmedoids(features: np.ndarray, k: int, rng: random.Random, iters: int = 20) -> list[int]:
    """Representative choice: k-means (k-means++ start) on standardised features, then the arch nearest
    each centre; covers where the archs are, where k-centre and D-optimal go to the edges."""
    f = _standard(np.asarray(features, float))
    gen = np.random.default_rng(rng.randrange(2**32))
    centres = [f[gen.integers(len(f))]]
    while len(centres) < min(k, len(f)):
        d2 = np.min([np.sum((f - c) ** 2, axis=1) for c in centres], axis=0)
        centres.append(f[gen.choice(len(f), p=d2 / d2.sum())] if d2.sum() > 0 else f[gen.integers(len(f))])
    c = np.array(centres)
    for _ in range(iters):
        lab = np.argmin(((f[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        c = np.array([f[lab == j].mean(0) if np.any(lab == j) else c[j] for j in range(len(c))])
    chosen: list[int] = []
    for j in range(len(c)):
        d = ((f - c[j]) ** 2).sum(1)
        d[chosen] = np.inf
        chosen.append(int(np.argmin(d)))
    return chosen


def choose(features: np.ndarray, k: int, rng: random.Random, how: str = "kcentre", pool: int = 1000) -> list[int]:
    """``k`` archs to measure: ``random``, or ``kcentre`` / ``kmedoids`` / ``dopt`` over a random pool of ``pool`` candidates
    (the pool keeps the choice cheap on large spaces and makes repeated choices differ)."""
    n = len(features)
    if how == "random":
        return rng.sample(range(n), k)
    if how not in ("kcentre", "kmedoids", "dopt"):
        raise ValueError(f"unknown arch choice {how!r}: use random, kcentre, kmedoids or dopt")
    cand = rng.sample(range(n), min(pool, n))
    sub = np.asarray(features)[cand]
    if how == "kcentre":
        picked = kcentre(sub, k, rng.randrange(len(cand)))
    else:
        picked = kmedoids(sub, k, rng) if how == "kmedoids" else dopt(sub, k)
    return [cand[i] for i in picked]


def used_edges(edges: Sequence[tuple[int, int]], live: Sequence[bool], output: int) -> list[bool]:
    """For a DAG of ``(to, from)`` edges, which live edges a dead-code-removing runtime keeps:
    those whose target node reaches ``output`` through live edges."""
    reach = {output}
    for (to, frm), ok in sorted(zip(edges, live), key=lambda e: -e[0][0]):
        if ok and to in reach:
            reach.add(frm)
    return [ok and to in reach for (to, _), ok in zip(edges, live)]


def nb201_views(genotypes: Sequence[Sequence[str]]) -> dict[str, View]:
    """``all``: every op of the cell runs (``none`` is a free edge); ``dce``: only ops whose result reaches
    the cell output (an op fed by a node that receives nothing still runs: the runtime cannot know its
    input is zero), and a cell whose output does not depend on its input folds the whole network."""
    from hynas.nb201 import EDGES, OPS

    ops = OPS[1:]
    full, dce, folded = [], [], []
    for g in genotypes:
        keep = used_edges(EDGES, [o != "none" for o in g], 3)
        full.append([sum(o == t for o in g) for t in ops])
        dce.append([sum(o == t and k for o, k in zip(g, keep)) for t in ops])
        folded.append(not _reaches_input(EDGES, keep))
    return {"all": View(np.array(full, float), np.zeros(len(full), bool)),
            "dce": View(np.array(dce, float), np.array(folded, bool))}


def _reaches_input(edges: Sequence[tuple[int, int]], keep: Sequence[bool]) -> bool:
    return any(k and frm == 0 for (_, frm), k in zip(edges, keep))
