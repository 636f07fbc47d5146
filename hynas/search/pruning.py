"""Multi-fidelity during training: rung pruning for several objectives (screening before it: problems.screen).

Like screening, it decides by *non-dominated rank* rather than by accuracy alone, so a fast
candidate with modest accuracy is not thrown away for a slow accurate one. ``--prune`` is
asynchronous successive halving (ASHA, Li et al. 2020) with the NSGA-II ordering as its
promotion rule, as in multi-objective ASHA (Schmucker et al. 2021): at each intermediate
evaluation step, a candidate goes on only if it is in the best 1/eta of the candidates that
reached that step, ordered by (non-dominated rank, crowding) on (accuracy at the step,
analytic MACs - the cost known before training). Optuna's own pruners refuse
multi-objective studies, hence this rule. Both backends apply it (local: ``rung_reporter``;
Ray: a ``RungBoard`` actor calling :func:`behind_at_rung`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hynas.results.pareto import crowding_distance, nondominated_fronts
from hynas.search.types import Pruned

ETA = 3
__all__ = ["ETA", "Pruned", "behind_at_rung", "rank_order", "rung_cost", "rung_reporter", "stopping_report"]


def rank_order(points: list[tuple[float, float]]) -> list[int]:
    """Indices of (benefit max, cost min) points, best first: non-dominated rank, then crowding."""
    pts = [(-b, c) for b, c in points]
    order: list[int] = []
    for front in nondominated_fronts(pts):
        crowd = crowding_distance([pts[i] for i in front])
        order += [front[k] for k in sorted(range(len(front)), key=lambda k: -crowd[k])]
    return order


def behind_at_rung(peers: list[tuple[float, float]], val_acc: float, cost: float, eta: int = ETA) -> bool:
    """The rule: stop a candidate with (``val_acc``, ``cost``) at a rung that ``peers`` (accuracy, cost) reached
    before it, unless it is in the best ceil(n / eta) of the n there, or n < eta (too few to judge: promote,
    asynchronously, as ASHA does)."""
    if len(peers) + 1 < eta:
        return False
    order = rank_order([*peers, (float(val_acc), cost)])
    return order.index(len(peers)) >= math.ceil((len(peers) + 1) / eta)


def stopping_report(decide: Callable[[int, float], bool]) -> Callable[[int, float], bool]:
    """A ``report(step, val_acc) -> stop?`` that asks ``decide`` and keeps where it stopped in ``stopped_at``
    (None while it goes on): what ``problems.space.SpaceProblem.evaluate`` reads to record the trial as pruned."""

    def report(step: int, val_acc: float) -> bool:
        if not decide(step, val_acc):
            return False
        report.stopped_at = (step, float(val_acc))  # type: ignore[attr-defined]
        return True

    report.stopped_at = None  # type: ignore[attr-defined]
    return report


def rung_reporter(objectives: tuple[str, ...], eta: int = ETA) -> Callable[[Any, Any], Callable[[int, float], bool]]:
    """A factory ``(study, trial) -> report(step, val_acc) -> stop?`` implementing the rule above."""

    def factory(study: Any, trial: Any) -> Callable[[int, float], bool]:
        cost = rung_cost(trial)
        rungs: dict[str, float] = {}

        def decide(step: int, val_acc: float) -> bool:
            rungs[str(step)] = float(val_acc)
            trial.set_user_attr("rungs", rungs)
            trial.set_user_attr("rung_cost_macs", cost)
            peers = [(t.user_attrs["rungs"][str(step)], t.user_attrs.get("rung_cost_macs", 0.0))
                     for t in study.get_trials(deepcopy=False)
                     if t.number != trial.number and str(step) in t.user_attrs.get("rungs", {})]
            return behind_at_rung(peers, val_acc, cost, eta)

        return stopping_report(decide)

    return factory


def rung_cost(trial: Any) -> float:
    """The cost the rung rule ranks a trial by: analytic MACs of its arch, known before training."""
    from hynas.cost import analytic_macs
    from hynas.space.arch import Arch

    return float(analytic_macs(Arch(trial.user_attrs["arch"])))
