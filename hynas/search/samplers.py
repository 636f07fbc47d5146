"""Optuna samplers by name (``--sampler``). Each entry builds a sampler from a seed."""

from __future__ import annotations

from typing import Any, Callable

from hynas.registry import Registry

SAMPLERS: Registry[Callable[..., Any]] = Registry("sampler")


def _register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return SAMPLERS.decorator(name)


@_register("nsga2")
def nsga2(seed: int, n_objectives: int = 2, constraints_func: Any = None) -> Any:
    """NSGA-II (Deb et al. 2002): the default for several objectives."""
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, population_size=12, constraints_func=constraints_func)


@_register("tpe")
def tpe(seed: int, n_objectives: int = 2, constraints_func: Any = None) -> Any:
    """Multi-objective TPE (Ozaki et al. 2020)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=8,
                                      constraints_func=constraints_func)


@_register("random")
def random_sampler(seed: int, n_objectives: int = 2, constraints_func: Any = None) -> Any:
    """Uniform random search: the baseline every search must beat."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(name: str, seed: int, n_objectives: int, constraints_func: Any = None) -> Any:
    return SAMPLERS.get(name)(seed, n_objectives, constraints_func)
