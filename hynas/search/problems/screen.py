"""Screening before training (``--screen K``): cheap scores pick which of K proposals is trained.

The sampler proposes K candidates; each gets a cheap score (a zero-cost proxy, seconds, no
training) and a cheap cost (the target's latency predictor when one is shipped, else
analytic MACs); one candidate of the first non-dominated front of (score max, cost min) is
trained, the others are recorded as PRUNED with ``screened_out`` and their cheap scores
(the sampler learns from them). Deciding by non-dominated rank rather than by the score
alone keeps a fast candidate with a modest score from being thrown away for a slow one.
"""

from __future__ import annotations

import random
from typing import Any

from hynas.results.pareto import nondominated_fronts
from hynas.search.config import SearchConfig
from hynas.search.problems.space import SpaceProblem
from hynas.search.types import BaseProblem, Candidate, Evaluation, Report

ZERO_COST_DEFAULT = "naswot"


class ScreenedProblem(BaseProblem):
    """Wraps a SpaceProblem: the engine asks ``screen_size`` proposals and trains the one :meth:`pick` picks."""

    def __init__(self, inner: SpaceProblem, cfg: SearchConfig, proxy: str = ZERO_COST_DEFAULT) -> None:
        self.inner, self.cfg, self.proxy = inner, cfg, proxy
        self.screen_size = cfg.screen
        self.reporter = inner.reporter
        self.space = inner.space
        self._rng = random.Random(cfg.seed)

    @property
    def evaluator(self) -> Any:
        """The inner problem's evaluator: parallel backends look for it to share the loaded data."""
        return self.inner.evaluator

    def preflight(self) -> None:
        self.inner.preflight()

    def propose(self, trial: Any) -> Candidate:
        return self.inner.propose(trial)

    def evaluate(self, cand: Candidate, report: Report | None = None) -> Evaluation:
        return self.inner.evaluate(cand, report)

    def cheap(self, cand: Candidate) -> tuple[float, float, str]:
        """(zero-cost score, cost, cost name): seconds per candidate, no training."""
        from hynas.proxy.zero_cost import score

        ev = self.inner.evaluator
        model = ev._seeded_model(cand.payload)
        s = float(score(self.proxy, model, ev.data, seed=self.cfg.seed))
        try:
            from hynas.latency import predict_latency

            return s, float(predict_latency(cand.payload, self.cfg.target, run_dir=self.cfg.run_dir).median_ms), "predicted_latency_ms"
        except Exception:  # noqa: BLE001 - no predictor for this target: MACs stand in for the cost
            from hynas.cost import analytic_macs

            return s, float(analytic_macs(cand.payload)), "macs"

    def pick(self, cands: list[Candidate]) -> tuple[int, list[dict[str, Any]]]:
        """The candidate to train (random member of the first front, so the front's spread is explored)."""
        info, points = [], []
        for c in cands:
            try:
                s, cost, name = self.cheap(c)
            except Exception as e:  # noqa: BLE001 - a candidate that cannot be scored is trained to find out
                s, cost, name = float("inf"), 0.0, f"unscored: {type(e).__name__}"
            points.append((s, cost))
            info.append({"proxy": self.proxy, "score": s, name: cost})
        first = nondominated_fronts([(-b, c) for b, c in points])[0]
        return self._rng.choice(sorted(first)), info
