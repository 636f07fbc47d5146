"""The search loop (Optuna ask/tell) with budgets, de-duplication, failure isolation and resume.

Counting: the budget counts *evaluated* candidates (complete or failed). Candidates a rule
rejects before building and re-draws of an already evaluated arch are recorded as PRUNED
with the reason and cost nothing. A trial left RUNNING by a killed process is marked
failed with reason "interrupted" when the run resumes; it does not count, so its arch is
evaluated again.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hynas.search.config import SearchConfig
from hynas.search.evaluate import Evaluator, Infeasible
from hynas.search.rundir import open_study, prepare
from hynas.space import OptunaChooser, decode, load_space
from hynas.space.sampling import rule_violations

INTERRUPTED = "interrupted"
MAX_CONSECUTIVE_SKIPS = 200


@dataclass
class SearchSummary:
    run_dir: str
    evaluated: int = 0
    complete: int = 0
    failed: int = 0
    rejected: int = 0
    duplicates: int = 0
    recovered: int = 0
    stop_reason: str = ""
    elapsed_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)


def _is_evaluated(t: Any) -> bool:
    from optuna.trial import TrialState

    return t.state == TrialState.COMPLETE or (
        t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") != INTERRUPTED)


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(owner: dict[str, Any] | None) -> bool:
    if not owner or owner.get("host") != socket.gethostname():
        return True  # another machine's trial: leave it to its heartbeat
    try:
        os.kill(int(owner["pid"]), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(study: Any) -> int:
    """Mark RUNNING trials whose process is gone as failed('interrupted'); returns how many."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _alive(t.user_attrs.get("owner")):
            study._storage.set_trial_user_attr(t._trial_id, "fail_reason", INTERRUPTED)
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            n += 1
    return n


class _StopFlag:
    """First SIGINT: finish the current trial, then stop. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def run_search(cfg: SearchConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> SearchSummary:
    """Run (or resume) a search until its budget or time budget is spent."""
    from optuna.trial import TrialState

    from hynas.search.samplers import make_sampler

    space = load_space(cfg.space)
    meta = prepare(cfg, space.raw, _fingerprint(cfg.target))
    study = open_study(meta, make_sampler(cfg.sampler, cfg.seed, len(cfg.objectives)), create=True)
    summary = SearchSummary(run_dir=cfg.run_dir, recovered=recover_interrupted(study))
    evaluator = Evaluator(cfg, space)
    seen = {t.user_attrs["hash"]: t.number for t in study.get_trials(deepcopy=False)
            if _is_evaluated(t) and "hash" in t.user_attrs}
    start = time.monotonic()
    skips = 0
    emit = progress or (lambda e: None)
    with _StopFlag() as stop:
        while True:
            done = sum(_is_evaluated(t) for t in study.get_trials(deepcopy=False))
            summary.evaluated = done
            if done >= cfg.budget:
                summary.stop_reason = f"budget of {cfg.budget} evaluated candidates reached"
                break
            if cfg.time_budget_s is not None and time.monotonic() - start >= cfg.time_budget_s:
                summary.stop_reason = f"time budget of {cfg.time_budget_s:.0f} s spent"
                break
            if stop.requested:
                summary.stop_reason = "stopped by the user (SIGINT) after the current trial"
                break
            if skips >= MAX_CONSECUTIVE_SKIPS:
                summary.stop_reason = (f"{skips} draws in a row were duplicates or rejected by rules: "
                                       "the space is exhausted or too constrained")
                break
            trial = study.ask()
            trial.set_user_attr("owner", _owner())
            arch, _ = decode(space, OptunaChooser(trial))
            why = rule_violations(space, arch)
            if why:
                trial.set_user_attr("rejected", why[0])
                study.tell(trial, state=TrialState.PRUNED)
                summary.rejected += 1
                skips += 1
                continue
            if arch.hash in seen:
                trial.set_user_attr("duplicate_of", seen[arch.hash])
                study.tell(trial, state=TrialState.PRUNED)
                summary.duplicates += 1
                skips += 1
                continue
            trial.set_user_attr("arch", arch.to_dict())
            trial.set_user_attr("hash", arch.hash)
            trial.set_user_attr("summary", arch.summary())
            outcome = _evaluate(study, trial, arch, evaluator, cfg, summary)
            if outcome == "rejected":
                skips += 1
            else:
                seen[arch.hash] = trial.number
                skips = 0
            emit({"trial": trial.number, "done": sum(_is_evaluated(t) for t in study.get_trials(deepcopy=False)),
                  "budget": cfg.budget, "study": study, "summary": summary})
    summary.elapsed_s = time.monotonic() - start
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            summary.complete += 1
        elif _is_evaluated(t):
            summary.failed += 1
            reason = str(t.user_attrs.get("fail_reason", "unknown")).split(":")[0]
            summary.failures[reason] = summary.failures.get(reason, 0) + 1
    return summary


def _evaluate(study: Any, trial: Any, arch: Any, evaluator: Evaluator, cfg: SearchConfig,
              summary: SearchSummary) -> str:
    """Evaluate one candidate and tell Optuna; returns 'complete', 'failed' or 'rejected'."""
    from optuna.trial import TrialState

    try:
        ev = evaluator(arch)
    except Infeasible as e:
        trial.set_user_attr("rejected", str(e))
        study.tell(trial, state=TrialState.PRUNED)
        summary.rejected += 1
        return "rejected"
    except KeyboardInterrupt:
        trial.set_user_attr("fail_reason", INTERRUPTED)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as e:  # noqa: BLE001 - a failed candidate never kills a search
        trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}"[:500])
        study.tell(trial, state=TrialState.FAIL)
        return "failed"
    for k, v in ev.attrs.items():
        trial.set_user_attr(k, v)
    study.tell(trial, [ev.values[o] for o in cfg.objectives])
    return "complete"


def _fingerprint(target: str) -> dict[str, Any]:
    try:
        from hynas.latency import fingerprint

        return fingerprint()
    except Exception:  # noqa: BLE001 - the fingerprint is informative, never blocking
        return {}
