"""The default sampler: categorical BO (``bo``'s GP and EI) that certifies local optima and restarts away from them.

Why: a GP with expected improvement is strongest per query while it keeps finding better
architectures, but on a landscape with a wide basin it can spend the rest of a budget
proposing cells around a local optimum (docs/BENCHMARKS.md, "Search robustness"). A plain
local search escapes such basins by construction: it knows when it is at a local optimum
(every Hamming-1 neighbour evaluated, none better) and restarts. This sampler does both:

* while the best architecture of the current region keeps improving, it is ``bo``: EI of
  the Hamming + overlap kernel GP over a pool of 1- and 2-decision neighbours of the best
  trials plus random cells;
* when the region's best (the incumbent) has not improved for ``patience`` queries, it
  turns into a best-first local search: the incumbent's unevaluated Hamming-1 neighbours,
  the one with the highest EI over the incumbent first. A better neighbour becomes the
  incumbent and BO resumes (a trust region that follows success);
* an incumbent whose neighbours are all evaluated and none better is a *certified local
  optimum*. The cells within ``radius`` decisions of any certified local optimum leave the
  region, so the next proposals are the GP's best (highest EI) cells away from the known
  basins: a restart chosen by the model instead of at random. The GP keeps every trial.

Everything is recomputed from the study's trials on each proposal (no state outside the
storage), and the random draws of trial ``n`` come from ``(seed, n)``: a resumed run, or a
second process reading the same trials, proposes exactly what an uninterrupted run would.
Several objectives: ParEGO (as ``bo``: a fresh augmented-Chebyshev weight per proposal),
without the local phase.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from hynas.search.samplers.bo import (
    REFIT,
    _expected_improvement,
    _neighbours,
    _observed,
    _one_blas_thread,
    _select_hyper,
    _target,
    scalar_key,
)


class RobustBOSampler(BaseSampler):
    def __init__(self, seed: int | None = None, n_startup_trials: int = 10, n_random_pool: int = 300,
                 top_k: int = 10, patience: int = 15, radius: int = 2) -> None:
        self._seed = _seed_int(seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self.n_startup_trials, self.n_random_pool, self.top_k = n_startup_trials, n_random_pool, top_k
        self.patience, self.radius = patience, radius
        self._hyper: tuple[bytes, tuple[float, float, float]] | None = None  # (prefix digest, hyperparameters)

    def reseed_rng(self) -> None:
        self._seed = _seed_int(None)

    def _rng(self, trial: FrozenTrial, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self._seed, trial.number, salt])

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._space.calculate(study).items()
                if isinstance(d, CategoricalDistribution) and len(d.choices) > 1}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        rng = self._rng(trial, zlib.crc32(param_name.encode()) + 1)
        if isinstance(param_distribution, CategoricalDistribution):
            return param_distribution.choices[int(rng.integers(len(param_distribution.choices)))]
        return RandomSampler(seed=int(rng.integers(2**31))).sample_independent(study, trial, param_name,
                                                                                param_distribution)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        trials = study.get_trials(deepcopy=False)
        done = sorted(_observed(trials, search_space), key=lambda p: p[0].number)  # in the order they were asked
        if not search_space or len(done) < self.n_startup_trials:
            return {}
        names = sorted(search_space)
        choices = [list(search_space[n].choices) for n in names]  # type: ignore[attr-defined]
        index = [{c: i for i, c in enumerate(cs)} for cs in choices]  # choice -> position, one dict lookup each
        X = np.array([[index[j][t.params[n]] for j, n in enumerate(names)] for t, _ in done])
        taken = np.array(sorted({tuple(index[j][t.params[n]] for j, n in enumerate(names))
                                 for t in trials if all(n in t.params for n in names)}), dtype=int)
        rng = self._rng(trial)
        values = [v for _, v in done]
        key = scalar_key(values, study.directions, rng)
        y = _normal_scores(key)
        queried = np.array([t.state == TrialState.COMPLETE for t, _ in done])
        with _one_blas_thread():  # tiny matrices: BLAS threads only contend (shared machines, Ray workers)
            hyper = self._hyper_for(X, values, study)
            best = _Step(self, X, key, y, queried, taken, [len(c) for c in choices], hyper, rng,
                         local=len(study.directions) == 1).propose()
        if best is None:
            return {}
        return {n: choices[j][int(best[j])] for j, n in enumerate(names)}

    def _hyper_for(self, X: np.ndarray, values: list[FrozenTrial], study: optuna.Study) -> tuple[float, float, float]:
        """Kernel hyperparameters from the first REFIT*k observations: the same on resume as without a break."""
        m = REFIT * (len(X) // REFIT)
        digest = X[:m].tobytes() + np.array([t.values for t in values[:m]], dtype=float).tobytes()
        if self._hyper is None or self._hyper[0] != digest:
            y = _target(values[:m], study.directions, np.random.default_rng([self._seed, m, 1]))
            self._hyper = (digest, _select_hyper(X[:m], y))
        return self._hyper[1]


class _Step:
    """One proposal: find the region and its incumbent, then a local step or a BO step."""

    def __init__(self, s: RobustBOSampler, X: np.ndarray, key: np.ndarray, y: np.ndarray, queried: np.ndarray,
                 taken: np.ndarray, sizes: list[int], hyper: tuple[float, float, float], rng: np.random.Generator,
                 local: bool) -> None:
        self.s, self.X, self.key, self.y, self.queried = s, X, key, y, queried
        self.taken, self.sizes, self.hyper, self.rng, self.local = taken, sizes, hyper, rng, local
        self._taken_set = set(map(tuple, taken.tolist()))

    def propose(self) -> np.ndarray | None:
        optima = self.local_optima() if self.local else self.X[:0]
        in_region = _min_distance(self.X, optima) > self.s.radius
        open_rows = in_region & (self._open_neighbours(self.X) > 0) if self.local else in_region[:0]
        if open_rows.any():
            c = int(np.flatnonzero(open_rows)[np.argmax(self.key[open_rows])])  # earliest of the best
            if int(self.queried[c + 1:].sum()) >= self.s.patience:
                return self._local_step(c)
        incumbent = float(self.y[in_region].max()) if in_region.any() else None
        pool = self._pool(in_region, optima)
        if len(pool) == 0:
            return None
        return pool[int(np.argmax(_expected_improvement(self.X, self.y, pool, *self.hyper, incumbent=incumbent)))]

    def _local_step(self, c: int) -> np.ndarray:
        x = tuple(int(v) for v in self.X[c])
        nbrs = np.array([z for z in _neighbours(x, self.sizes, 1) if z not in self._taken_set], dtype=int)
        ei = _expected_improvement(self.X, self.y, nbrs, *self.hyper, incumbent=float(self.y[c]))
        return nbrs[int(np.argmax(ei))]

    def _open_neighbours(self, P: np.ndarray) -> np.ndarray:
        """How many Hamming-1 neighbours of each row of P are not taken (never asked)."""
        return sum(s - 1 for s in self.sizes) - (_distance(P, self.taken) == 1).sum(axis=1)

    def local_optima(self) -> np.ndarray:
        """Observed cells whose every neighbour was asked and none observed better (failed ones count as worse)."""
        closed = self._open_neighbours(self.X) == 0
        if not closed.any():
            return self.X[:0]
        rows = np.flatnonzero(closed)
        near = _distance(self.X[rows], self.X) == 1
        better = (near & (self.key[None, :] > self.key[rows, None])).any(axis=1)
        return self.X[rows[~better]]

    def _pool(self, in_region: np.ndarray, optima: np.ndarray) -> np.ndarray:
        """Untaken 1-neighbours of the region's top-k, 2-neighbours of its top 3, random cells; not near optima."""
        cands: set[tuple[int, ...]] = set()
        rows = np.flatnonzero(in_region)
        for rank, i in enumerate(rows[np.argsort(-self.y[rows], kind="stable")][: self.s.top_k]):
            cands.update(_neighbours(tuple(int(v) for v in self.X[i]), self.sizes, 2 if rank < 3 else 1))
        rand = self.rng.integers(self.sizes, size=(self.s.n_random_pool, len(self.sizes)))
        cands.update(map(tuple, rand.tolist()))
        pool = np.array(sorted(cands - self._taken_set), dtype=int).reshape(-1, len(self.sizes))
        return pool[_min_distance(pool, optima) > self.s.radius] if len(optima) else pool


def _distance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Hamming distances between every row of A and every row of B (one-hot dot products: a matmul)."""
    if len(A) == 0 or len(B) == 0:
        return np.zeros((len(A), len(B)), dtype=int)
    k = int(max(A.max(), B.max())) + 1
    oa = np.eye(k, dtype=np.float32)[A].reshape(len(A), -1)
    ob = np.eye(k, dtype=np.float32)[B].reshape(len(B), -1)
    return A.shape[1] - np.rint(oa @ ob.T).astype(int)


def _min_distance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Distance from each row of A to the nearest row of B (infinite when B is empty)."""
    if len(B) == 0:
        return np.full(len(A), np.inf)
    return _distance(A, B).min(axis=1)


def _normal_scores(key: np.ndarray) -> np.ndarray:
    """Ranks -> normal scores, as ``bo``'s copula target (ties broken by order)."""
    from scipy.stats import norm

    return norm.ppf((key.argsort(kind="stable").argsort() + 1) / (len(key) + 1))


def _seed_int(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    return int(seed) % (2**63)
