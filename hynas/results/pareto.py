"""Pareto front, hypervolume and knee point, computed once as data; renderers only draw them.

Points are given with their directions ("maximize"/"minimize"); internally every objective
is turned into a minimization.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_min(points: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(points, dtype=float) * sign


def pareto_mask(points: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """True for points no other point dominates (ties: identical points are all kept)."""
    p = _as_min(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    n = len(p)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        dominated = np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1)
        if dominated.any():
            mask[i] = False
    return mask


def hypervolume(points: Sequence[Sequence[float]], directions: Sequence[str],
                reference: Sequence[float]) -> float:
    """Volume dominated by the points and bounded by the reference point (in the objectives' own units)."""
    if len(points) == 0:
        return 0.0
    p = _as_min(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    ref = _as_min(np.asarray(reference, dtype=float)[None, :], directions)[0]
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p, ["minimize"] * p.shape[1])]
    return float(_hv(p, ref))


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume by slicing along the last objective (exact; fine for the fronts a search yields)."""
    if p.shape[1] == 1:
        return float(ref[0] - p[:, 0].min())
    if p.shape[1] == 2:
        order = np.argsort(p[:, 0])
        total, best_y = 0.0, ref[1]
        for x, y in p[order]:
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return total
    order = np.argsort(p[:, -1])
    p = p[order]
    total = 0.0
    for i in range(len(p)):
        upper = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        depth = upper - p[i, -1]
        if depth > 0:
            sub = p[: i + 1, :-1]
            sub = sub[pareto_mask(sub, ["minimize"] * sub.shape[1])]
            total += depth * _hv(sub, ref[:-1])
    return total


def reference_point(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[float]:
    """A reference point just worse than every observed value (accuracy: 0)."""
    p = np.asarray(points, dtype=float).reshape(len(points), -1)
    ref = []
    for j, d in enumerate(directions):
        if d == "maximize":
            ref.append(0.0 if p[:, j].min() >= 0 else float(p[:, j].min()) * 1.1)
        else:
            ref.append(float(p[:, j].max()) * 1.1 if len(p) else 1.0)
    return ref


def knee_index(points: Sequence[Sequence[float]], directions: Sequence[str]) -> int:
    """The front point closest to the utopia point after min-max normalisation of each objective."""
    p = _as_min(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    norm = (p - lo) / span
    return int(np.argmin(np.linalg.norm(norm, axis=1)))
