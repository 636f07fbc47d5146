"""The default sampler (``robust``): escapes a planted local optimum, deterministic per seed, resumes from storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from hynas.search.samplers import default_sampler, make_sampler
from hynas.search.samplers.bo import HammingBOSampler
from hynas.search.samplers.robust import RobustBOSampler

optuna.logging.set_verbosity(optuna.logging.ERROR)
DIMS, OPTIONS = 6, 5


def planted(x: np.ndarray) -> float:
    """Every decision away from option 0 costs 0.1 (a wide additive basin, its top at all zeros, value 0), except
    that the last option on the first three decisions together earns 1.0: the optimum (4, 4, 4, 0, 0, 0) at
    0.7 is three decisions from the trap and every cell between them is worse than the trap."""
    bonus = 1.0 if (x[:3] == OPTIONS - 1).all() else 0.0
    return float(-0.1 * (x != 0).sum() + bonus)


def _search(sampler: optuna.samplers.BaseSampler, n: int, storage: str | None = None) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, study_name="s",
                                load_if_exists=True)
    while len(study.trials) < n:
        t = study.ask()
        x = np.array([t.suggest_categorical(f"d{j}", list(range(OPTIONS))) for j in range(DIMS)])
        study.tell(t, planted(x))
    return study


def _params(study: optuna.Study) -> list[dict[str, int]]:
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def test_robust_is_the_default_for_one_and_several_objectives() -> None:
    assert default_sampler(1) == "robust" and default_sampler(2) == "robust"
    assert isinstance(make_sampler("robust", 0, 1), RobustBOSampler)


@pytest.mark.slow  # about 60 s on a loaded core: two 200-trial GP searches
def test_escapes_the_planted_basin_plain_gp_ei_stays_in() -> None:
    """Seed 1: plain GP-EI (``bo``) spends 200 trials around the trap (best 0.0); the default certifies the trap as
    a local optimum, restarts away from it and finds the optimum 0.7."""
    plain = _search(HammingBOSampler(seed=1), 200)
    robust = _search(RobustBOSampler(seed=1), 200)
    assert plain.best_value == 0.0
    assert robust.best_value == 0.7


def test_deterministic_per_seed() -> None:
    a, b = _params(_search(RobustBOSampler(seed=3), 40)), _params(_search(RobustBOSampler(seed=3), 40))
    assert a == b
    assert a != _params(_search(RobustBOSampler(seed=4), 40))


def test_resumes_from_the_trials_in_storage(tmp_path: Path) -> None:
    """20 trials, a new process (a fresh sampler reading the SQLite study), 15 more: the same 35 trials as one run."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _search(RobustBOSampler(seed=5), 20, url)
    resumed = _search(RobustBOSampler(seed=5), 35, url)
    assert _params(resumed) == _params(_search(RobustBOSampler(seed=5), 35))


def _front_volume(run_dir: Path) -> tuple[int, float]:
    from hynas.results.pareto import hypervolume

    study = optuna.load_study(study_name="hynas", storage=f"sqlite:///{run_dir / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len({t.user_attrs["hash"] for t in done}) == len(done)  # distinct networks
    return len(done), hypervolume([t.values for t in done], ["maximize", "minimize"], (10.0, 40.0))


def test_several_objectives_run_through_run_search(tmp_path: Path) -> None:
    """The default for accuracy vs latency on the shipped table, through the library entry point, finds a larger
    front than random search with the same budget and seed."""
    from hynas.search import SearchConfig, run_search

    volumes = {}
    for name in (default_sampler(2), "random"):
        cfg = SearchConfig(space="default", run_dir=str(tmp_path / name), table="nb201-cifar10", budget=40,
                           sampler=name, seed=0)
        assert run_search(cfg).complete == 40
        volumes[name] = _front_volume(tmp_path / name)
    assert volumes["robust"][0] == 40
    assert volumes["robust"][1] > volumes["random"][1]
