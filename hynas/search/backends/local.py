"""The local backend: one candidate at a time in this process; the first Ctrl-C finishes the current one."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from hynas.search.backends import BACKENDS

if TYPE_CHECKING:
    from hynas.search.engine import Search
    from hynas.search.types import Evaluation


class _StopFlag:
    """First SIGINT: finish the current trial, then stop. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> Self:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


@BACKENDS.decorator("local")
def run_local(search: Search, cfg: Any = None, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Ask, evaluate, tell until the search says stop; a failed candidate is recorded, never raised.

    With ``cfg.workers`` > 1, that many candidates run at once (``parallel.run_parallel``)."""
    emit = progress or (lambda e: None)
    report_factory = search.problem.reporter
    if cfg is not None and getattr(cfg, "workers", 1) > 1 and hasattr(search.problem, "evaluator"):
        from hynas.search.backends.parallel import run_parallel

        with _StopFlag() as stop:
            return run_parallel(search, cfg, progress, stop)
    with _StopFlag() as stop:
        while True:
            search.stop_requested = stop.requested
            got = search.ask()
            if got is None:
                return
            trial, cand = got
            report = report_factory(search.study, trial) if report_factory else None
            try:
                outcome: Evaluation | BaseException = search.problem.evaluate(cand, report)
            except KeyboardInterrupt:
                search.abandon(trial, cand)
                raise
            except Exception as e:  # noqa: BLE001 - a failed candidate never kills a search
                outcome = e
            emit(search.event(trial, search.tell(trial, cand, outcome)))
