"""Who is evaluating a trial, and whether that process still lives: recovery of killed runs, heartbeats.

A RUNNING trial carries ``owner`` (host, pid). On resume, a RUNNING trial whose owner process
on this host is gone is failed with reason ``interrupted`` (it does not count; its arch is
evaluated again). Trials of other hosts are left to RDB heartbeats (``--heartbeat``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any, Self

INTERRUPTED = "interrupted"


def owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def alive(owner: dict[str, Any] | None) -> bool:
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
        if not alive(t.user_attrs.get("owner")):
            study._storage.set_trial_user_attr(t._trial_id, "fail_reason", INTERRUPTED)
            study._storage.set_trial_user_attr(t._trial_id, "outcome", "interrupted")
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            n += 1
    return n


STALE = f"{INTERRUPTED}: its host sent no heartbeat for 4 intervals (failed by Optuna's stale-trial check)"


def explain_stale(study: Any) -> int:
    """Give the trials Optuna's stale-trial check is about to fail their reason (it writes none); returns how many.

    Written while they are still RUNNING (a finished trial cannot be updated). They count as interrupted,
    like a killed local run's: not evaluated, so a resume evaluates the arch again."""
    from optuna.exceptions import UpdateFinishedTrialError

    storage, n = study._storage, 0
    stale = getattr(storage, "_get_stale_trial_ids", None)  # Optuna's own test (private: absent, nothing said)
    for tid in stale(study._study_id) if stale else []:
        with contextlib.suppress(UpdateFinishedTrialError):  # finished meanwhile: its own outcome stands
            storage.set_trial_user_attr(tid, "fail_reason", STALE)
            storage.set_trial_user_attr(tid, "outcome", "interrupted")
            n += 1
    return n


class Heartbeat:
    """Beats for this process's in-flight trials (RDB storage with ``heartbeat_s``), so other hosts
    can tell them from the trials of a dead one; on entry, fails the stale trials of dead hosts."""

    def __init__(self, search: Any, interval_s: int | None) -> None:
        import threading

        self.search, self.interval_s = search, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="hynas-heartbeat")

    def __enter__(self) -> Self:
        if self.interval_s:
            from optuna.storages import fail_stale_trials

            explain_stale(self.search.persistent)
            fail_stale_trials(self.search.persistent)
            self._thread.start()
        return self

    def _beat(self) -> None:
        storage, mirror = self.search.persistent._storage, self.search.mirror
        while not self._stop.wait(self.interval_s):
            for trial in list(self.search.in_flight.values()):
                with contextlib.suppress(Exception):  # a missed beat only risks a stale mark later
                    storage.record_heartbeat(mirror.stored_id(trial))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
