"""The Ray backend: candidates evaluated in parallel on a Ray cluster, the study kept by the driver.

Design: rather than Ray Tune's ``Tuner`` + ``OptunaSearch`` (which keeps its own in-memory
study and its own experiment directory), the driver keeps the *same* Optuna study in the
run directory as the local backend and uses plain Ray tasks as workers: it asks up to
``--workers`` candidates from the study, runs each as a Ray task with its own resources
(``--worker-cpus``, default 1, and ``--worker-gpus``, default 0; checked against the
cluster before the first candidate, since Ray would otherwise wait forever for a GPU that
is not there), and tells each result back as it arrives. So plots,
export and resume read one study whichever backend ran it, and the engine's budgets,
de-duplication (in-flight candidates included) and constraints apply unchanged.

Rung pruning (``--prune``) works here too: the rule needs every candidate's accuracy at each
rung, which lives with the driver's study, so a small Ray actor (``RungBoard``) holds the
rungs of this study's trials (those of earlier sessions loaded from the study), and a
training worker asks it at each intermediate evaluation whether to stop: the same rule
(``pruning.behind_at_rung``) as the local backend, asynchronous as in ASHA.

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

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hynas.errors import UserError
from hynas.search.backends import BACKENDS, PREFLIGHTS
from hynas.search.pruning import ETA, rung_cost, stopping_report
from hynas.search.types import Evaluation

if TYPE_CHECKING:
    from hynas.search.config import SearchConfig
    from hynas.search.engine import Search

MAX_RETRIES = 3
POLL_S = 1.0


class RungBoard:
    """Rung accuracies of a study's trials, shared by the workers of one Ray run (a Ray actor)."""

    def __init__(self, known: dict[str, tuple[dict[str, float], float]], eta: int) -> None:
        self.rungs = {k: dict(r) for k, (r, _) in known.items()}
        self.cost = {k: c for k, (_, c) in known.items()}
        self.eta = eta

    def report(self, key: str, step: int, val_acc: float, cost: float) -> bool:
        """Record ``key``'s accuracy at ``step``; True if it is behind there and should stop."""
        from hynas.search.pruning import behind_at_rung

        self.rungs.setdefault(key, {})[str(step)] = float(val_acc)
        self.cost[key] = float(cost)
        peers = [(r[str(step)], self.cost[k]) for k, r in self.rungs.items() if k != key and str(step) in r]
        return behind_at_rung(peers, val_acc, cost, self.eta)


def _evaluate(problem: Any, cand: Any, board: Any = None, key: str = "", cost: float = 0.0
              ) -> Evaluation | BaseException:
    """Runs on a worker; an application exception (or the rung stop, ``Pruned``) comes back as a value, so Ray
    does not retry it. With a ``board``, intermediate accuracies are reported to it (rung pruning)."""
    import os

    import ray

    rungs: dict[str, float] = {}

    def decide(step: int, val_acc: float) -> bool:
        rungs[str(step)] = float(val_acc)
        return bool(ray.get(board.report.remote(key, step, val_acc, cost)))

    report = stopping_report(decide) if board is not None else None
    try:
        ev = problem.evaluate(cand, report)
    except Exception as e:  # noqa: BLE001 - recorded as the trial's outcome by the driver
        if rungs and hasattr(e, "attrs"):  # a Pruned stop: keep its rungs on the trial, as the local backend does
            e.attrs.update(rungs=rungs, rung_cost_macs=cost)
        return e
    ev.attrs["worker"] = {"node": os.uname().nodename, "pid": os.getpid()}
    if rungs:
        ev.attrs.update(rungs=rungs, rung_cost_macs=cost)
    return ev


def init_ray(address: str | None, workers: int, worker_cpus: float = 1.0) -> None:
    """Connect to ``address`` ("auto", HOST:PORT) or start a local instance sized to ``workers``."""
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    else:
        ray.init(num_cpus=max(1, math.ceil(workers * worker_cpus)), include_dashboard=False,
                 ignore_reinit_error=True, log_to_driver=False)


def connect(cfg: SearchConfig) -> None:
    """Start or join Ray for ``cfg`` now, turning every way of not reaching a cluster into one clear UserError
    (exit 2) that names ``--ray-address``: nothing listening at HOST:PORT, no running instance for "auto", a
    cluster that wants an authentication token this process lacks."""
    address = cfg.ray_address
    if address and address != "auto" and not address.startswith("ray://"):
        _check_listening(address)
    try:
        init_ray(address, cfg.workers, float(cfg.worker_cpus))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - Ray's own connection errors vary by version; all mean "not reached"
        where = f"--ray-address {address}" if address else "a local Ray instance"
        raise UserError(f"{where}: Ray could not connect ({type(e).__name__}: {str(e).strip()[:400]}). Start a "
                        "cluster with `ray start --head` (and export its token where it requires one), pass "
                        "'auto' on one of its nodes, or leave --ray-address out for a local instance.") from None


def _check_listening(address: str, timeout_s: float = 3.0) -> None:
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'.")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise UserError(f"--ray-address {address}: nothing is listening there ({e.strerror or e}). Start the head "
                        f"node with `ray start --head --port={port}`, or leave --ray-address out to start a local "
                        "Ray instance.") from None


def check_resources(cpus: float, gpus: float) -> None:
    """Refuse per-candidate resources no node of the cluster has (Ray would queue the task forever)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return
    have = "; ".join(f"{r.get('CPU', 0):g} CPUs, {r.get('GPU', 0):g} GPUs" for r in nodes) or "no live node"
    raise UserError(f"--worker-cpus {cpus:g} --worker-gpus {gpus:g}: no node of the Ray cluster has that much "
                    f"(nodes: {have}). Lower them, or start Ray on a node that has them.")


def _board(search: Search, eta: int) -> Any:
    """A RungBoard actor loaded with the rungs already in the study (earlier sessions of this run)."""
    import ray

    known = {f"stored:{t.number}": (t.user_attrs["rungs"], float(t.user_attrs.get("rung_cost_macs", 0.0)))
             for t in search.study.get_trials(deepcopy=False) if t.user_attrs.get("rungs")}
    return ray.remote(num_cpus=0)(RungBoard).remote(known, eta)


PREFLIGHTS["ray"] = connect


@BACKENDS.decorator("ray")
def run_ray(search: Search, cfg: SearchConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Keep up to ``cfg.workers`` Ray tasks busy until the budget is spent; wait for those in flight."""
    import ray

    cpus, gpus = float(cfg.worker_cpus), float(cfg.worker_gpus)
    init_ray(cfg.ray_address, cfg.workers, cpus)
    check_resources(cpus, gpus)
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES)(_evaluate)
    problem_ref = ray.put(search.problem)
    board = _board(search, ETA) if search.problem.reporter else None
    pending: dict[Any, tuple[Any, Any]] = {}
    emit = progress or (lambda e: None)
    try:
        while True:
            while len(pending) < cfg.workers and search.can_start():
                got = search.ask()
                if got is None:
                    break
                trial, cand = got
                key, cost = f"local:{trial._trial_id}", rung_cost(trial) if board is not None else 0.0
                pending[remote.remote(problem_ref, cand, board, key, cost)] = got
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
