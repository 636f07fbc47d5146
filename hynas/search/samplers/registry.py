"""Optuna samplers by name (``--sampler``; ``hynas list samplers``). Each entry builds a sampler from a seed.

Constraints (``--constraint``) need no wiring here: the engine records them with Optuna's
``trial.set_constraint`` (Optuna >= 5), which NSGA-II, NSGA-III, TPE and GP read directly
(feasible-first selection, not a penalty); the evolution sampler reads the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hynas.registry import Registry

SAMPLERS: Registry[Callable[..., Any]] = Registry("sampler")


def _register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return SAMPLERS.decorator(name)


@_register("nsga2")
def nsga2(seed: int, n_objectives: int = 2) -> Any:
    """NSGA-II (Deb et al. 2002): cheap proposals for searches of many hundreds of trials."""
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, population_size=12)


@_register("nsga3")
def nsga3(seed: int, n_objectives: int = 2) -> Any:
    """NSGA-III (Deb & Jain 2014): reference-point niching, for three or more objectives."""
    import optuna

    return optuna.samplers.NSGAIIISampler(seed=seed, population_size=12)


@_register("tpe")
def tpe(seed: int, n_objectives: int = 2) -> Any:
    """TPE (Bergstra et al. 2011; multi-objective MOTPE, Ozaki et al. 2020).

    ``n_startup_trials=10`` random trials before modelling; measured on NAS-Bench-201 in
    docs/BENCHMARKS.md ("Search").
    """
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=10)


@_register("gp")
def gp(seed: int, n_objectives: int = 2) -> Any:
    """Gaussian-process BO (Optuna's GPSampler, logEI / logEHVI): best per query, ~1-4 s per trial to fit."""
    import optuna

    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)


@_register("evolution")
def evolution(seed: int, n_objectives: int = 2) -> Any:
    """Regularised (aging) evolution (Real et al. 2019); see ``hynas.search.samplers.evolution``.

    P=20, S=5: a small population suits budgets of hundreds of trials (NASLib uses similar
    settings on NAS-Bench-201).
    """
    from hynas.search.samplers.evolution import RegularizedEvolutionSampler

    return RegularizedEvolutionSampler(population_size=20, sample_size=5, seed=seed)


@_register("random")
def random_sampler(seed: int, n_objectives: int = 2) -> Any:
    """Uniform random search: the baseline every search must beat."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def default_sampler(n_objectives: int) -> str:
    """``robust`` (categorical BO with local-optimum restarts; ParEGO for several objectives): docs/BENCHMARKS.md,
    "Search robustness"."""
    return "robust"


def make_sampler(name: str, seed: int, n_objectives: int) -> Any:
    return SAMPLERS.get(name)(seed, n_objectives)


@_register("bo")
def bo(seed: int, n_objectives: int = 2) -> Any:
    """GP on Hamming + overlap kernels, EI over a local pool (ParEGO for several objectives); ``hynas.search.samplers.bo``."""
    from hynas.search.samplers.bo import HammingBOSampler

    return HammingBOSampler(seed=seed)


@_register("robust")
def robust(seed: int, n_objectives: int = 2) -> Any:
    """bo that certifies local optima (local search when stalled) and restarts away from them; the default for one
    objective. ParEGO for several. ``hynas.search.samplers.robust``."""
    from hynas.search.samplers.robust import RobustBOSampler

    return RobustBOSampler(seed=seed)
