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


def dominates(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> np.ndarray | bool:
    """Pareto dominance of minimised objective vectors: ``a`` is nowhere worse and somewhere better than ``b``.

    The one dominance test of hynas. Broadcasts over leading axes (rows of ``a`` against
    ``b``: a boolean per row); plain sequences give a bool.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = np.all(a <= b, axis=-1) & np.any(a < b, axis=-1)
    return bool(out) if out.ndim == 0 else out


def pareto_mask(points: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """True for points no other point dominates (ties: identical points are all kept)."""
    p = _as_min(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    return np.array([not dominates(p, p[i]).any() for i in range(len(p))], dtype=bool)


def nondominated_fronts(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Non-dominated sorting of minimised points (Deb et al. 2002): index lists, first front first.

    O(n^2 m): the populations and rungs ranked with it are tens to hundreds of points.
    """
    n = len(points)
    if n == 0:
        return []
    p = np.asarray(points, dtype=float).reshape(n, -1)
    beats = [np.flatnonzero(dominates(p[i], p)) for i in range(n)]  # beats[i]: the points i dominates
    count = [int(dominates(p, p[i]).sum()) for i in range(n)]  # how many points dominate i
    fronts = [[i for i in range(n) if count[i] == 0]]
    while fronts[-1]:
        nxt = []
        for i in fronts[-1]:
            for j in beats[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(int(j))
        fronts.append(nxt)
    return fronts[:-1]


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance within one front; boundary points get infinity so the extremes survive."""
    n = len(points)
    if n <= 2:
        return [float("inf")] * n
    dist = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = float("inf")
        if hi == lo:
            continue
        for k in range(1, n - 1):
            dist[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (hi - lo)
    return dist


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


class RunningFront:
    """The non-dominated points of a growing stream and each objective's extremes: O(front) per point.

    What a live display needs after every trial (best value, hypervolume) without re-reading
    every trial and recomputing the front over all of them.
    """

    def __init__(self, directions: Sequence[str] = ()) -> None:
        self.directions = list(directions)
        self.points: list[list[float]] = []  # non-dominated objective values so far
        self.extremes: list[list[float]] = []  # [per-objective minimum, per-objective maximum]

    def add(self, point: Sequence[float], directions: Sequence[str] | None = None) -> None:
        if directions is not None:
            self.directions = list(directions)
        p = [float(v) for v in point]
        lo = [min(a, b) for a, b in zip(self.extremes[0], p)] if self.extremes else p
        hi = [max(a, b) for a, b in zip(self.extremes[1], p)] if self.extremes else p
        self.extremes = [lo, hi]  # reference_point only reads each objective's min and max
        if p in self.points:  # a tie adds nothing to the front
            return
        pts = [*self.points, p]
        self.points = [f for f, keep in zip(pts, pareto_mask(pts, self.directions)) if keep]

    def hypervolume(self) -> float:
        """Against the reference point just worse than every value seen (not only the front's)."""
        if not self.points:
            return 0.0
        return hypervolume(self.points, self.directions, reference_point(self.extremes, self.directions))
