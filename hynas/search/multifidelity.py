"""Multi-fidelity for several objectives: cheap screening before training, rung pruning during it.

Two levels, both deciding by *non-dominated rank* rather than by accuracy alone, so a fast
candidate with modest accuracy is not thrown away for a slow accurate one:

* Screening (``--screen K``): the sampler proposes K candidates; each gets a cheap score
  (a zero-cost proxy, seconds, no training) and a cheap cost (the target's latency
  predictor when one is shipped, else analytic MACs); one candidate of the first
  non-dominated front of (score max, cost min) is trained, the others are recorded as
  PRUNED with ``screened_out`` and their cheap scores (the sampler learns from them).
* Rung pruning (``--prune``): asynchronous successive halving (ASHA, Li et al. 2020) with
  the NSGA-II ordering as its promotion rule, as in multi-objective ASHA (Schmucker et al.
  2021): at each intermediate evaluation step, a candidate goes on only if it is in the
  best 1/eta of the candidates that reached that step, ordered by (non-dominated rank,
  crowding) on (accuracy at the step, analytic MACs - the cost known before training).
  Optuna's own pruners refuse multi-objective studies, hence this rule.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from hynas.search.evolution import _crowding, _fronts

ETA = 3
ZERO_COST_DEFAULT = "naswot"


def rank_order(points: list[tuple[float, float]]) -> list[int]:
    """Indices of (benefit max, cost min) points, best first: non-dominated rank, then crowding."""
    pts = [(-b, c) for b, c in points]
    order: list[int] = []
    for front in _fronts(pts):
        crowd = _crowding([pts[i] for i in front])
        order += [front[k] for k in sorted(range(len(front)), key=lambda k: -crowd[k])]
    return order


class Pruned(Exception):
    """Training stopped at a rung: the candidate counts as evaluated, recorded as PRUNED."""

    def __init__(self, step: int, accuracy: float, values: dict[str, float] | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
        """``values``/``attrs``: what the evaluation measured before it stopped (latency, sizes), kept on the
        trial so plots and reports can place it on every axis, not only on the size axes."""
        super().__init__(f"stopped at step {step} (accuracy {accuracy:.4f}) behind its rung")
        self.step, self.accuracy = step, accuracy
        self.values, self.attrs = dict(values or {}), dict(attrs or {})

    def __reduce__(self) -> tuple[Any, ...]:  # pickled whole (a Ray worker sends it back to the driver)
        return (Pruned, (self.step, self.accuracy, self.values, self.attrs))


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
    (None while it goes on): what ``SpaceProblem.evaluate`` reads to record the trial as pruned."""

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


class ScreenedProblem:
    """Wraps a SpaceProblem: the engine asks ``screen_size`` proposals and trains the one :meth:`pick` picks."""

    def __init__(self, inner: Any, cfg: Any, proxy: str = ZERO_COST_DEFAULT) -> None:
        self.inner, self.cfg, self.proxy = inner, cfg, proxy
        self.screen_size = cfg.screen
        self.reporter = inner.reporter
        self._rng = random.Random(cfg.seed)

    def propose(self, trial: Any) -> Any:
        return self.inner.propose(trial)

    def evaluate(self, cand: Any, report: Callable[[int, float], bool] | None = None) -> Any:
        return self.inner.evaluate(cand, report)

    def cheap(self, cand: Any) -> tuple[float, float, str]:
        """(zero-cost score, cost, cost name): seconds per candidate, no training."""
        from hynas.proxy.zero_cost import score

        ev = self.inner.evaluator
        model = ev._seeded_model(cand.payload) if hasattr(ev, "_seeded_model") else None
        if model is None:
            from hynas.build import build_model

            model = build_model(ev.proxy_arch(cand.payload))
        s = float(score(self.proxy, model, ev.data, seed=self.cfg.seed))
        try:
            from hynas.latency import predict_latency

            return s, float(predict_latency(cand.payload, self.cfg.target).median_ms), "predicted_latency_ms"
        except Exception:  # noqa: BLE001 - no predictor for this target: MACs stand in for the cost
            from hynas.cost import analytic_macs

            return s, float(analytic_macs(cand.payload)), "macs"

    def pick(self, cands: list[Any]) -> tuple[int, list[dict[str, Any]]]:
        """The candidate to train (random member of the first front, so the front's spread is explored)."""
        info, points = [], []
        for c in cands:
            try:
                s, cost, name = self.cheap(c)
            except Exception as e:  # noqa: BLE001 - a candidate that cannot be scored is trained to find out
                s, cost, name = float("inf"), 0.0, f"unscored: {type(e).__name__}"
            points.append((s, cost))
            info.append({"proxy": self.proxy, "score": s, name: cost})
        first = _fronts([(-b, c) for b, c in points])[0]
        return self._rng.choice(sorted(first)), info
