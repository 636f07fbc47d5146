"""Regularised (aging) evolution as an Optuna sampler, for one or several objectives.

Real et al., "Regularized Evolution for Image Classifier Architecture Search" (AAAI 2019):
keep a population of the P most recent models; to propose a child, sample S of them at
random, take the best (tournament), mutate one of its decisions; the child joins the
population and the *oldest* member leaves (aging, not the worst: this is the
regularisation that keeps lucky evaluations from dominating forever).

How it plugs into the ask/tell loop: the population is simply the P most recent COMPLETE
trials of the study, so nothing is kept outside the storage and a resumed or distributed
run (several workers on one study) evolves the same population. A trial's first
``suggest_*`` call runs the tournament; every later call replays the parent's value,
except the one mutated decision, which gets a different option. Decisions the parent did
not have (the mutation switched a block type, so its knobs are new) are drawn at random -
the same semantics as :func:`hynas.space.mutate` (replay, random fallback), but at the
level of Optuna parameters so it serves any decision space, including NAS-Bench-201.

Several objectives: the tournament key generalises "best accuracy" to NSGA-II's crowded
comparison within the current population (Deb et al. 2002): lower non-dominated rank
wins, ties go to the larger crowding distance. With constraints, feasibility comes first
(Deb's rules: a feasible trial beats an infeasible one; two infeasible trials compare by
total violation), read from the values the engine sets with ``trial.set_constraint``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hynas.results.pareto import crowding_distance, nondominated_fronts


class RegularizedEvolutionSampler(BaseSampler):
    """Aging evolution with tournament selection; the first ``population_size`` trials are random."""

    def __init__(self, population_size: int = 20, sample_size: int = 5, seed: int | None = None) -> None:
        if not 1 <= sample_size <= population_size:
            raise ValueError("need 1 <= sample_size <= population_size")
        self.population_size = population_size
        self.sample_size = sample_size
        self._rng = random.Random(seed)
        self._random = RandomSampler(seed=seed)
        self._plans: dict[int, tuple[dict[str, Any], str | None] | None] = {}

    def reseed_rng(self) -> None:
        self._rng = random.Random()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if trial._trial_id not in self._plans:
            self._plans[trial._trial_id] = self._plan(study, trial)
        plan = self._plans[trial._trial_id]
        if plan is None or not isinstance(param_distribution, CategoricalDistribution):
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        parent, mutated = plan
        choices = list(param_distribution.choices)
        if param_name == mutated:
            others = [c for c in choices if c != parent.get(param_name)]
            return self._rng.choice(others or choices)
        if param_name in parent and parent[param_name] in choices:
            return parent[param_name]
        return self._rng.choice(choices)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._plans.pop(trial._trial_id, None)

    # ----------------------------------------------------------------- tournament

    def _plan(self, study: optuna.Study, trial: FrozenTrial) -> tuple[dict[str, Any], str | None] | None:
        """Pick the parent (tournament over the aged population) and the decision to mutate."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) < self.population_size:
            return None
        population = sorted(done, key=lambda t: t.number)[-self.population_size:]
        keys = selection_keys(population, study.directions, violation)
        picks = self._rng.sample(range(len(population)), self.sample_size)
        winner = population[min(picks, key=lambda i: keys[i])]
        mutable = sorted(n for n, d in winner.distributions.items()
                         if isinstance(d, CategoricalDistribution) and len(d.choices) > 1)
        mutated = self._rng.choice(mutable) if mutable else None
        # The number is the parent's in the study this sampler reads (with several writers, the engine's local
        # copy, whose numbers can differ from the stored ones); its architecture hash names it in any copy.
        study._storage.set_trial_system_attr(trial._trial_id, "evolution:parent", winner.number)
        if "hash" in winner.user_attrs:
            study._storage.set_trial_system_attr(trial._trial_id, "evolution:parent_hash", winner.user_attrs["hash"])
        return dict(winner.params), mutated


def violation(t: FrozenTrial) -> float:
    """Total constraint violation from Optuna's ``trial.set_constraint`` values (0: feasible)."""
    return float(sum(max(0.0, c) for c in t.constraints.values()))


def selection_keys(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection],
                   violation: Callable[[FrozenTrial], float]) -> list[tuple[float, float, float]]:
    """Sort keys (smaller is better): (constraint violation, non-dominated rank, -crowding distance)."""
    signs = [-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions]
    pts = [[s * v for s, v in zip(signs, t.values)] for t in trials]  # all minimised
    viol = [violation(t) for t in trials]
    ranks = [0] * len(pts)
    crowd = [0.0] * len(pts)
    for group in _groups_by_violation(viol):
        for r, front in enumerate(nondominated_fronts([pts[i] for i in group]), start=0):
            members = [group[i] for i in front]
            for i, d in zip(members, crowding_distance([pts[i] for i in members])):
                ranks[i], crowd[i] = r, d
    return [(viol[i], float(ranks[i]), -crowd[i]) for i in range(len(pts))]


def _groups_by_violation(viol: Sequence[float]) -> list[list[int]]:
    """Feasible trials form one group ranked by dominance; infeasible ones compare by violation only."""
    feasible = [i for i, v in enumerate(viol) if v <= 0]
    return [feasible] + [[i] for i, v in enumerate(viol) if v > 0]
