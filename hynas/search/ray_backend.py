"""The Ray backend: candidates evaluated in parallel on a Ray cluster, the study kept by the driver.

Design: rather than Ray Tune's ``Tuner`` + ``OptunaSearch`` (which keeps its own in-memory
study and its own experiment directory), the driver keeps the *same* Optuna study in the
run directory as the local backend and uses plain Ray tasks as workers: it asks up to
``--workers`` candidates from the study, runs each as a Ray task with its own resources
(1 CPU, ``num_gpus`` if asked), and tells each result back as it arrives. So plots,
export and resume read one study whichever backend ran it, and the engine's budgets,
de-duplication (in-flight candidates included) and constraints apply unchanged.

Failures: a worker process that dies (killed, OOM, node lost) is a *system* failure, which
Ray retries on another worker (``max_retries``); the finished trials are already in the
study, so nothing finished is lost. An exception raised by the candidate itself is an
*application* failure: not retried, recorded as a failed trial with its reason. If the
driver dies, RUNNING trials are failed as "interrupted" on resume and evaluated again.

A real cluster: ``ray start --head --port=6379`` on one node, ``ray start
--address=HEAD:6379`` on the others (same Python environment and hynas install), then
``hynas search --backend ray --ray-address auto --workers N`` on the head node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hynas.search.engine import BACKENDS, Evaluation, Search

MAX_RETRIES = 3
POLL_S = 1.0


def _evaluate(problem: Any, cand: Any) -> Evaluation | BaseException:
    """Runs on a worker; an application exception comes back as a value, so Ray does not retry it."""
    import os

    try:
        ev = problem.evaluate(cand, None)
    except Exception as e:  # noqa: BLE001 - recorded as the trial's failure by the driver
        return e
    ev.attrs["worker"] = {"node": os.uname().nodename, "pid": os.getpid()}
    return ev


def init_ray(address: str | None, workers: int) -> None:
    """Connect to ``address`` ("auto", HOST:PORT) or start a local instance sized to ``workers``."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)


@BACKENDS.decorator("ray")
def run_ray(search: Search, cfg: Any, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Keep up to ``cfg.workers`` Ray tasks busy until the budget is spent; wait for those in flight."""
    import ray

    init_ray(getattr(cfg, "ray_address", None), cfg.workers)
    remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_evaluate)
    problem_ref = ray.put(search.problem)
    pending: dict[Any, tuple[Any, Any]] = {}
    emit = progress or (lambda e: None)
    try:
        while True:
            while len(pending) < cfg.workers and search.can_start():
                got = search.ask()
                if got is None:
                    break
                pending[remote.remote(problem_ref, got[1])] = got
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                trial, cand = pending.pop(ref)
                emit(search.event(trial, search.tell(trial, cand, _result(ref))))
    except KeyboardInterrupt:
        for trial, cand in pending.values():
            search.abandon(trial, cand)
        raise


def _result(ref: Any) -> Evaluation | BaseException:
    """The task's value, or the error after Ray gave up retrying (a lost worker, an unpicklable result)."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        return e
