"""The terminal side of `hynas search`: a progress bar with ETA, and one line per finished candidate above it.

The lines are ``hynas.results.live.candidate_line`` (the same as ``RUN/search.log``); when
stdout is not a terminal the bar is not redrawn but the lines still print. Optuna's own log
records go through the same console while the bar is live, so they print above it instead
of breaking it.
"""

from __future__ import annotations

import logging
from typing import Any, Self


class _ConsoleHandler(logging.Handler):
    def __init__(self, console: Any) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(f"[dim]optuna: {record.getMessage()}[/dim]", highlight=False, soft_wrap=True)


class SearchProgress:
    """Trials done of the budget, elapsed, ETA, and the running front: best accuracy, fastest, hypervolume."""

    def __init__(self, budget: int, acc_name: str = "acc") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from hynas.results.pareto import RunningFront

        self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"),
                                 transient=False)
        self.budget, self.acc_name = budget, acc_name
        self.front = RunningFront()
        self.objectives: list[str] = []
        self.directions: list[str] = []
        self.task: Any = None  # the bar appears with the search's first event: nothing shows before a refusal
        self._handler = _ConsoleHandler(self.progress.console)

    def __enter__(self) -> Self:
        import optuna

        optuna.logging.disable_default_handler()
        optuna.logging.get_logger("optuna").addHandler(self._handler)
        return self

    def update(self, event: dict[str, Any]) -> None:
        from hynas.results.live import candidate_line

        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=self.budget, completed=min(event["done"], self.budget))
        if event["status"] != "started":
            self.progress.console.print(candidate_line(event, self.acc_name), highlight=False, markup=False,
                                        soft_wrap=True)
        if event.get("values") is not None:
            self.directions = list(event.get("directions", []))
            self.front.add(event["values"], self.directions)
        self.progress.update(self.task, completed=min(event["done"], self.budget),
                             description=self._describe(event.get("objectives", [])))

    def _describe(self, objectives: list[str]) -> str:
        """The bar's tail: best accuracy, fastest, the best of every other objective, and the hypervolume."""
        pts = self.front.points
        if not pts:
            return ""
        self.objectives = objectives
        desc = f"best {self.acc_name} {max(p[0] for p in pts):.4g}"
        if "latency_ms" in objectives:
            j = objectives.index("latency_ms")
            desc += f" · fastest {min(p[j] for p in pts):.3f} ms"
        for j, name in enumerate(objectives):
            if name not in ("accuracy", "latency_ms"):
                pick = min if j < len(self.directions) and self.directions[j] == "minimize" else max
                desc += f" · best {name} {pick(p[j] for p in pts):.4g}"
        return desc + (f" · HV {self.front.hypervolume():.4g}" if len(objectives) > 1 else "")

    def best(self) -> str:
        """Each objective's best over the session's front, as the candidate lines show them (for the summary)."""
        from hynas.results.live import best_text

        return best_text(self.objectives, self.directions, self.front.points, self.acc_name)

    def __exit__(self, *exc: object) -> None:
        import optuna

        self.progress.stop()
        optuna.logging.get_logger("optuna").removeHandler(self._handler)
        optuna.logging.enable_default_handler()
