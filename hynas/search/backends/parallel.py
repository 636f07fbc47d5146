"""``--workers N`` on the local backend: N candidates at once, each in its own child process.

Each worker owns a *slot*: a group of the cores this process may run on (split evenly, at
least one each) and, where torch sees GPUs and the recipe's device is ``auto`` or ``cuda``,
one GPU (slot i gets ``cuda:i % gpus``). A candidate is evaluated in an isolated child
(``isolate.run_isolated``) pinned to its slot's cores with ``os.sched_setaffinity``, so the
trainer's default thread count (every core of its affinity) is the slot's share. The
parent only asks, tells and answers pruning reports, one at a time under a lock, so the
study is never written from two threads at once. With ``--measure``, candidates are timed
while others train beside them: use the predictor (the default) for parallel searches.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hynas.search.engine import Search

_local = threading.local()
POLL_S = 0.5


@dataclass(frozen=True)
class Slot:
    index: int
    cpus: tuple[int, ...]
    device: str | None = None  # a GPU for this worker's candidates; None: the recipe's device


def current_slot() -> Slot | None:
    """The slot of the worker thread evaluating now (None outside a parallel search)."""
    return getattr(_local, "slot", None)


def plan_slots(workers: int, device: str = "auto") -> list[Slot]:
    """``workers`` slots over this process's CPU affinity (and GPUs, when the device allows)."""
    cores = sorted(os.sched_getaffinity(0))
    gpus = 0
    if device in ("auto", "cuda"):
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    per = max(1, len(cores) // workers)
    slots = []
    for i in range(workers):
        group = tuple(cores[i * per:(i + 1) * per]) if len(cores) >= workers else (cores[i % len(cores)],)
        slots.append(Slot(i, group, f"cuda:{i % gpus}" if gpus else None))
    return slots


def enter_slot(slot: Slot) -> None:
    """In the candidate's child process: run on the slot's cores only."""
    os.sched_setaffinity(0, slot.cpus)


def run_parallel(search: Search, cfg: Any, progress: Callable[[dict[str, Any]], None] | None = None,
                 stop: Any = None) -> None:
    """Keep ``cfg.workers`` candidates in flight until the search says stop; wait for those running."""
    emit = progress or (lambda e: None)
    recipe = cfg.train_recipe() if hasattr(cfg, "train_recipe") else None
    free: queue.Queue[Slot] = queue.Queue()
    for s in plan_slots(cfg.workers, recipe.device if recipe else "cpu"):
        free.put(s)
    lock = threading.Lock()
    pending: dict[Future, tuple[Any, Any]] = {}
    with ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="hynas-worker") as pool:
        try:
            while True:
                with lock:
                    search.stop_requested = bool(stop and stop.requested)
                    while len(pending) < cfg.workers and search.can_start():
                        got = search.ask()
                        if got is None:
                            break
                        pending[pool.submit(_work, search, got[1], _report(search, got[0], lock), free)] = got
                if not pending:
                    return
                done, _ = wait(list(pending), timeout=POLL_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    trial, cand = pending.pop(fut)
                    with lock:
                        emit(search.event(trial, search.tell(trial, cand, fut.result())))
        except KeyboardInterrupt:
            for trial, cand in pending.values():
                search.abandon(trial, cand)
            raise


def _report(search: Search, trial: Any, lock: threading.Lock) -> Any:
    factory = search.problem.reporter
    if not factory:
        return None
    with lock:
        inner = factory(search.study, trial)

    class Locked:
        """The pruning report, serialised with the parent's asks and tells (it reads and writes the study)."""

        def __call__(self, step: int, value: float) -> bool:
            with lock:
                return bool(inner(step, value))

        def __getattr__(self, name: str) -> Any:  # stopped_at and what else the pruning protocol reads
            return getattr(inner, name)

    return Locked()


def _work(search: Search, cand: Any, report: Any, free: queue.Queue) -> Any:
    """One candidate on a free slot; the outcome (an Evaluation or the exception), never raised."""
    slot = free.get()
    _local.slot = slot
    try:
        return search.problem.evaluate(cand, report)
    except Exception as e:  # noqa: BLE001 - a failed candidate never kills a search
        return e
    finally:
        _local.slot = None
        free.put(slot)
