"""What the engine searches: a hynas space scored by the Evaluator, or a tabular benchmark.

A problem turns an Optuna trial into a :class:`~hynas.search.engine.Candidate` (define-by-run
``suggest_categorical`` through the space decoder) and a candidate into objective values.
The engine sees nothing else, which is what lets the same loop, samplers and backends serve
real training and the NAS-Bench-201 table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hynas.search.config import SearchConfig
from hynas.search.engine import Candidate, Evaluation, Rejected


class SpaceProblem:
    """Candidates from a hynas space; scored by :class:`hynas.search.evaluate.Evaluator` (built lazily)."""

    def __init__(self, cfg: SearchConfig) -> None:
        from hynas.space import load_space

        self.cfg = cfg
        self.space = load_space(cfg.space)
        self._evaluator: Any = None
        self.reporter: Callable[[Any, Any], Callable[[int, float], bool]] | None = None
        if cfg.prune:
            from hynas.search.multifidelity import rung_reporter

            self.reporter = rung_reporter(cfg.objectives)

    @property
    def evaluator(self) -> Any:
        if self._evaluator is None:
            from hynas.search.evaluate import Evaluator

            self._evaluator = Evaluator(self.cfg, self.space)
        return self._evaluator

    def propose(self, trial: Any) -> Candidate:
        from hynas.space import OptunaChooser, decode
        from hynas.space.sampling import rule_violations

        arch, _ = decode(self.space, OptunaChooser(trial))
        why = rule_violations(self.space, arch)
        if why:
            raise Rejected(why[0])
        return Candidate(key=arch.hash, attrs={"arch": arch.to_dict(), "hash": arch.hash, "summary": arch.summary()},
                         payload=arch)

    def evaluate(self, cand: Candidate, report: Callable[[int, float], bool] | None = None) -> Evaluation:
        from hynas.search.evaluate import Infeasible

        try:
            ev = self.evaluator(cand.payload, report)
        except Infeasible as e:
            raise Rejected(str(e)) from None
        stopped = getattr(report, "stopped_at", None)
        if stopped is not None:
            from hynas.search.multifidelity import Pruned

            raise Pruned(*stopped, values=ev.values, attrs=ev.attrs)
        return Evaluation(ev.values, ev.attrs)


def make_problem(cfg: SearchConfig) -> tuple[Any, str]:
    """The problem for a config and the text that identifies it in run.json (space YAML or table)."""
    if cfg.table is not None:
        from hynas.search.tabular import NB201Table, TabularProblem

        table = NB201Table(cfg.table)
        return TabularProblem(table, cfg.objectives), f"nas-bench-201 table {table.path.name} ({len(table)} cells)"
    problem = SpaceProblem(cfg)
    if cfg.screen > 1:
        from hynas.search.multifidelity import ScreenedProblem

        return ScreenedProblem(problem, cfg), problem.space.raw
    return problem, problem.space.raw
