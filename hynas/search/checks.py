"""Bounds on the search flags that ``SearchConfig`` does not check by type alone.

Called from ``SearchConfig.__post_init__``, so a library ``run_search`` and ``hynas search``
refuse the same values, before a run directory exists. Every message names the flag and
what is allowed.
"""

from __future__ import annotations

import math
from typing import Any

from hynas.errors import UserError

MAX_SEED = 2**32 - 1  # NumPy's and Optuna's samplers take 32-bit seeds
MAX_HEARTBEAT_S = 86_400
MAX_TRIAL_MEMORY_MB = 2**24  # 16 TiB


def check_flags(cfg: Any) -> None:
    """Raise ``UserError`` for a seed, heartbeat, trial cap or objective list that cannot work.

    ``--storage`` is checked by ``storage.rundir.prepare`` (``storage.urls``), where the run
    directory it may lie in is known, before anything is written."""
    _int_in("--seed", cfg.seed, 0, MAX_SEED)
    if cfg.heartbeat_s is not None:
        _int_in("--heartbeat", cfg.heartbeat_s, 0, MAX_HEARTBEAT_S)
    if cfg.trial_timeout_s is not None and not (math.isfinite(cfg.trial_timeout_s) and cfg.trial_timeout_s > 0):
        raise UserError(f"--trial-timeout must be a positive duration, got {cfg.trial_timeout_s!r} s. "
                        "Allowed: a number with s, m, h or d (e.g. 5m); leave it out for no cap.")
    if cfg.trial_memory_mb is not None:
        _int_in("--trial-memory", cfg.trial_memory_mb, 1, MAX_TRIAL_MEMORY_MB)
    if cfg.time_budget_s is not None and not math.isfinite(cfg.time_budget_s):
        raise UserError("--time-budget must be a finite duration. Allowed: a number with s, m, h or d (e.g. 15m).")
    seen = [o for i, o in enumerate(cfg.objectives) if o in cfg.objectives[:i]]
    if seen:
        raise UserError(f"--objectives lists {', '.join(sorted(set(seen)))} twice; each objective once. "
                        f"Given: {','.join(cfg.objectives)}.")


def _int_in(flag: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        shown = f"an integer of {len(str(abs(value)))} digits" if isinstance(value, int) and abs(value) > 10**30 \
            else repr(value)
        raise UserError(f"{flag} {shown} is out of range. Allowed: an integer in {low}..{high}.")
