"""A hynas space as a search problem: define-by-run proposals through the space decoder, scored by the Evaluator.

A problem turns an Optuna trial into a :class:`~hynas.search.types.Candidate` (define-by-run
``suggest_categorical`` through the space decoder) and a candidate into objective values.
The engine sees nothing else, which is what lets the same loop, samplers and backends serve
real training and the NAS-Bench-201 table (``problems.tabular``).
"""

from __future__ import annotations

from typing import Any

from hynas.search.config import SearchConfig
from hynas.search.types import BaseProblem, Candidate, Evaluation, Rejected, Report


class SpaceProblem(BaseProblem):
    """Candidates from a hynas space; scored by :class:`hynas.search.problems.evaluate.Evaluator` (built lazily)."""

    def __init__(self, cfg: SearchConfig) -> None:
        from hynas.space import load_space

        self.cfg = cfg
        self.space = load_space(cfg.space)
        if cfg.max_activation_mb is not None:  # --max-activation-mb: a rule like the space's own limits
            from dataclasses import replace

            self.space = replace(self.space, rules=replace(self.space.rules, max_activation_mb=cfg.max_activation_mb))
        self._evaluator: Any = None
        if cfg.prune:
            from hynas.search.pruning import rung_reporter

            self.reporter = rung_reporter(cfg.objectives)

    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            from hynas.search.problems.evaluate import Evaluator

            self._evaluator = Evaluator(self.cfg, self.space)
        return self._evaluator

    def preflight(self) -> None:
        """Refuse a space whose rules and limits no sample satisfies (``evaluate.preflight``)."""
        from hynas.search.problems.evaluate import preflight

        preflight(self.space)

    def propose(self, trial: Any) -> Candidate:
        from hynas.space import OptunaChooser, decode
        from hynas.space.sampling import rule_violations

        arch, _ = decode(self.space, OptunaChooser(trial))
        why = rule_violations(self.space, arch)
        if why:
            raise Rejected(why[0])
        return Candidate(key=arch.hash, attrs={"arch": arch.to_dict(), "hash": arch.hash, "summary": arch.summary()},
                         payload=arch)

    def evaluate(self, cand: Candidate, report: Report | None = None) -> Evaluation:
        from hynas.search.problems.evaluate import Infeasible

        try:
            ev = self.evaluator(cand.payload, report)
        except Infeasible as e:
            raise Rejected(str(e)) from None
        stopped = getattr(report, "stopped_at", None)  # set by pruning.stopping_report when the rung rule stopped it
        if stopped is not None:
            from hynas.search.types import Pruned

            raise Pruned(*stopped, values=ev.values, attrs=ev.attrs)
        return Evaluation(ev.values, ev.attrs)
