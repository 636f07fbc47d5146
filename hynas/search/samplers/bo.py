"""Bayesian optimisation over categorical architecture decisions: GP (Hamming + overlap kernel), EI on a local pool.

Why another GP: Optuna's ``GPSampler`` finds the NAS-Bench-201 optimum within 100 queries
but spends seconds per trial fitting kernel parameters and optimising the acquisition with
torch. Architecture decisions are small categorical sets, so an exponential kernel on the
Hamming distance (as in COMBO/CoCaBO-style BO over categories) with hyperparameters picked
from a small grid by marginal likelihood, and expected improvement maximised over a pool of
the 1- and 2-decision neighbours of the best architectures plus random ones (the
local-search acquisition optimiser of BANANAS / White et al. 2021), costs milliseconds.

The kernel mixes two views of the decisions, weighted by marginal likelihood:
``w * exp(-d / length) + (1 - w) * (1 - d)``, where ``d`` is the fraction of decisions that
differ. The first term is the Hamming kernel (interactions: only near neighbours share
information); the second is the overlap (first-order, additive) kernel, under which "3x3
convolution on this edge" or "skip on that one" helps wherever else the architecture
differs. A pure Hamming GP has no way to carry such a main effect across the space, and on
NAS-Bench-201 it left a quarter of the seeds in a basin five decisions away from the
optimum; with the mixture they leave it (docs/BENCHMARKS.md, "Search").

Targets are copula-transformed (ranks -> normal scores) so the sharp accuracy cliffs of
NAS spaces (a disconnected cell trains to 10 %) do not wreck the GP. Several objectives:
ParEGO (Knowles 2006) - each proposal scalarises the min-max normalised objectives with
an augmented Chebyshev function under a fresh random weight vector. Constraints: the
ranking puts every infeasible trial below every feasible one (by total violation), so the
model learns feasibility as part of the target. Decisions outside the common (intersection)
search space - the knobs of a block type that only some trials have - are drawn at random.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

_LENGTHS = (0.05, 0.1, 0.2, 0.4, 0.8)
_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # share of the Hamming term; the rest is the additive overlap term
_NOISES = (1e-3, 1e-2, 1e-1)
REFIT = 10


class HammingBOSampler(BaseSampler):
    def __init__(self, seed: int | None = None, n_startup_trials: int = 10, n_random_pool: int = 300,
                 top_k: int = 10) -> None:
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self.n_startup_trials, self.n_random_pool, self.top_k = n_startup_trials, n_random_pool, top_k
        self._hyper: tuple[float, float, float] | None = None  # (length, weight, noise), re-selected every REFIT

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._space.calculate(study).items()
                if isinstance(d, CategoricalDistribution) and len(d.choices) > 1}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        trials = study.get_trials(deepcopy=False)
        done = _observed(trials, search_space)
        if not search_space or len(done) < self.n_startup_trials:
            return {}
        names = sorted(search_space)
        choices = [list(search_space[n].choices) for n in names]  # type: ignore[attr-defined]
        X = np.array([[choices[j].index(t.params[n]) for j, n in enumerate(names)] for t, _ in done])
        y = _target([v for _, v in done], study.directions, self._rng)
        taken = {tuple(choices[j].index(t.params[n]) for j, n in enumerate(names))
                 for t in trials if all(n in t.params for n in names)}
        pool = self._pool(X, y, [len(c) for c in choices], taken)
        if len(pool) == 0:
            return {}
        with _one_blas_thread():  # tiny matrices: BLAS threads only contend (shared machines, Ray workers)
            if self._hyper is None or len(done) % REFIT == 0:
                self._hyper = _select_hyper(X, y)
            best = pool[int(np.argmax(_expected_improvement(X, y, pool, *self._hyper)))]
        return {n: choices[j][int(best[j])] for j, n in enumerate(names)}

    def _pool(self, X: np.ndarray, y: np.ndarray, sizes: list[int], taken: set[tuple[int, ...]]) -> np.ndarray:
        """Unevaluated neighbours (1 change) of the top-k, 2 changes of the top 3, and random points."""
        cands: set[tuple[int, ...]] = set()
        order = np.argsort(-y)
        for rank, i in enumerate(order[: self.top_k]):
            for x in _neighbours(tuple(int(v) for v in X[i]), sizes, 2 if rank < 3 else 1):
                cands.add(x)
        for _ in range(self.n_random_pool):
            cands.add(tuple(int(self._rng.integers(s)) for s in sizes))
        return np.array(sorted(cands - taken), dtype=int).reshape(-1, len(sizes))


def _observed(trials: list[FrozenTrial], space: dict[str, BaseDistribution]) -> list[tuple[FrozenTrial, FrozenTrial]]:
    """(trial with the decisions, trial with the values): every complete trial, plus every duplicate the
    engine skipped (``duplicate_of``: the same network, e.g. an equivalent cell) with its twin's values,
    so the model knows those decisions are already measured instead of rating them as unexplored."""
    complete = {t.number: t for t in trials if t.state == TrialState.COMPLETE and all(n in t.params for n in space)}
    out = [(t, t) for t in complete.values()]
    for t in trials:
        twin = complete.get(t.user_attrs.get("duplicate_of", -1)) if t.state == TrialState.PRUNED else None
        if twin is not None and all(n in t.params for n in space):
            out.append((t, twin))
    return out


def _one_blas_thread() -> Any:
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _neighbours(x: tuple[int, ...], sizes: list[int], radius: int) -> list[tuple[int, ...]]:
    out = []
    for r in range(1, radius + 1):
        for dims in itertools.combinations(range(len(x)), r):
            for vals in itertools.product(*([v for v in range(sizes[d]) if v != x[d]] for d in dims)):
                z = list(x)
                for d, v in zip(dims, vals):
                    z[d] = v
                out.append(tuple(z))
    return out


def _target(trials: list[FrozenTrial], directions: list[StudyDirection], rng: np.random.Generator) -> np.ndarray:
    """Normal scores of the trials' ranks (higher is better): ParEGO scalarisation, feasible first."""
    from scipy.stats import norm

    key = scalar_key(trials, directions, rng)
    ranks = key.argsort().argsort()
    return norm.ppf((ranks + 1) / (len(key) + 1))


def scalar_key(trials: list[FrozenTrial], directions: list[StudyDirection], rng: np.random.Generator) -> np.ndarray:
    """One number per trial, higher is better: the value (ParEGO scalarisation for several objectives), every
    infeasible trial below every feasible one by its total constraint violation."""
    sign = np.array([1.0 if d == StudyDirection.MAXIMIZE else -1.0 for d in directions])
    V = np.array([t.values for t in trials], dtype=float) * sign  # all maximised
    span = np.where(V.max(0) > V.min(0), V.max(0) - V.min(0), 1.0)
    bad = (V.max(0) - V) / span  # 0 = best on that objective
    w = rng.dirichlet(np.ones(V.shape[1])) if V.shape[1] > 1 else np.ones(1)
    score = -(np.max(w * bad, axis=1) + 0.05 * (w * bad).sum(axis=1))
    viol = np.array([sum(max(0.0, c) for c in t.constraints.values()) for t in trials])
    return np.where(viol > 0, score.min() - 1.0 - viol, score)


def _mismatch(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Fraction of decisions that differ, for every pair of rows (one-hot dot products: a matmul)."""
    k = int(max(A.max(initial=0), B.max(initial=0))) + 1
    oa = np.eye(k)[A].reshape(len(A), -1)
    ob = np.eye(k)[B].reshape(len(B), -1)
    return 1.0 - (oa @ ob.T) / A.shape[1]


def _kernel(D: np.ndarray, length: float, weight: float) -> np.ndarray:
    """Hamming (exponential in the mismatch fraction) plus overlap (1 - mismatch: additive main effects)."""
    return weight * np.exp(-D / length) + (1.0 - weight) * (1.0 - D)


def _select_hyper(X: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(length, weight, noise) from the grid with the highest GP log marginal likelihood.

    With weight 0 the length does not matter, so only the first length is tried there. The
    exponential term is computed once per length (not once per weight), and the factorisations
    skip scipy's finiteness checks (the mismatch matrix is finite by construction).
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    D = _mismatch(X, X)
    overlap, eye = 1.0 - D, np.eye(len(X))
    expo = {length: np.exp(-D / length) for length in _LENGTHS}
    best = (-np.inf, (_LENGTHS[-1], 1.0, _NOISES[-1]))
    for weight in _WEIGHTS:
        for length in _LENGTHS if weight > 0 else _LENGTHS[:1]:
            K0 = weight * expo[length] + (1.0 - weight) * overlap  # = _kernel(D, length, weight)
            for noise in _NOISES:
                try:
                    c = cho_factor(K0 + noise * eye, check_finite=False)
                except LinAlgError:  # pragma: no cover - the noise term keeps K positive definite
                    continue
                ll = -0.5 * y @ cho_solve(c, y, check_finite=False) - np.log(np.diag(c[0])).sum()
                if ll > best[0]:
                    best = (ll, (length, weight, noise))
    return best[1]


def _expected_improvement(X: np.ndarray, y: np.ndarray, P: np.ndarray, length: float, weight: float,
                          noise: float, incumbent: float | None = None) -> np.ndarray:
    """EI of pool points P under the GP posterior given (X, y), over ``incumbent`` (default: the best y)."""
    from scipy.stats import norm

    mu, sd = posterior(X, y, P, length, weight, noise)
    best = y.max() if incumbent is None else incumbent
    z = (mu - best) / sd
    return (mu - best) * norm.cdf(z) + sd * norm.pdf(z)


def posterior(X: np.ndarray, y: np.ndarray, P: np.ndarray, length: float, weight: float,
              noise: float) -> tuple[np.ndarray, np.ndarray]:
    """GP posterior mean and standard deviation at pool points P given (X, y).

    The variance takes one triangular solve with the Cholesky factor (``|L^-1 k|^2``), half the
    work of solving with the full matrix; the pool is the largest operand.
    """
    from scipy.linalg import cho_solve, cholesky, solve_triangular

    L = cholesky(_kernel(_mismatch(X, X), length, weight) + noise * np.eye(len(X)), lower=True, check_finite=False)
    Ks = _kernel(_mismatch(P, X), length, weight)
    mu = Ks @ cho_solve((L, True), y, check_finite=False)
    V = solve_triangular(L, Ks.T, lower=True, check_finite=False)
    var = np.clip(1.0 - np.einsum("ij,ij->j", V, V), 1e-12, None)
    return mu, np.sqrt(var)
