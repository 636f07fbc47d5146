"""What a search searches: a hynas space (``space``; scored by ``evaluate`` with a proxy from ``scorers``,
optionally screened first, ``screen``) or a tabular benchmark (``tabular``, NAS-Bench-201)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hynas.search.config import SearchConfig
    from hynas.search.types import Problem


def make_problem(cfg: SearchConfig) -> tuple[Problem, str]:
    """The problem for a config and the text that identifies it in run.json (space YAML or table)."""
    if cfg.table is not None:
        from hynas.search.problems.tabular import NB201Table, TabularProblem

        table = NB201Table(cfg.table, accuracy=cfg.table_accuracy, latency=cfg.table_latency, test=cfg.table_test)
        c = table.cols
        return TabularProblem(table, cfg.objectives), (
            f"nas-bench-201 table {table.path.name} ({len(table)} cells; accuracy {c.accuracy}, latency {c.latency}"
            + (f", test {c.test}" if c.test else "") + ")")
    from hynas.search.problems.space import SpaceProblem

    problem = SpaceProblem(cfg)
    if cfg.screen > 1:
        from hynas.search.problems.screen import ScreenedProblem

        return ScreenedProblem(problem, cfg), problem.space.raw
    return problem, problem.space.raw
