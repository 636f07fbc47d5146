"""A study's trials as readers need them, even when Optuna cannot build them.

Why: a study written by another tool, or edited by hand, can hold rows Optuna's own reader
rejects: a NULL objective value makes ``RDBStorage`` fail an ``assert`` inside
``get_trials``, and a COMPLETE trial whose values were deleted fails ``FrozenTrial``'s
validation when it is copied. ``hynas plot``, ``report``, ``export`` and ``results`` must
still show everything else, so :func:`read_trials` falls back to reading Optuna's tables
directly (read-only) and hands back what each row holds; the caller decides what to skip.
A search (a writer) cannot resume on such rows: :func:`check_resumable` says so, exit 2.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hynas.errors import UserError

_UNREADABLE = (AssertionError, ValueError, TypeError, KeyError, AttributeError, LookupError)  # Optuna on bad rows


@dataclass
class StoredTrial:
    number: int
    state: str  # COMPLETE, FAIL, PRUNED, RUNNING, WAITING
    values: list[Any] | None  # as stored: may hold None, or fewer entries than objectives
    user_attrs: dict[str, Any] = field(default_factory=dict)


def read_trials(study: Any, where: str) -> list[StoredTrial]:
    """Every trial of ``study``; through Optuna when it can, else from the RDB tables (``where``: the file
    or URL named when neither works)."""
    try:
        return [StoredTrial(t.number, t.state.name, list(t.values) if t.values is not None else None,
                            dict(t.user_attrs)) for t in study.get_trials(deepcopy=False)]
    except _UNREADABLE as e:
        rdb = _rdb_backend(study)
        if rdb is None:
            raise UserError(f"{where}: the study holds trials Optuna cannot read ({type(e).__name__}: {e}).") from None
        return _raw_rdb(rdb, study.study_name)


def check_resumable(study: Any, where: str) -> None:
    """Refuse (exit 2) to resume a search on a study whose rows Optuna cannot read."""
    try:
        study.get_trials(deepcopy=False)
    except _UNREADABLE as e:
        why = str(e) or "a NULL objective value?"
        raise UserError(f"{where}: the study holds trials Optuna cannot read ({type(e).__name__}: {why}); written "
                        "by another tool or edited? `hynas results`, plot, report and export skip such trials, but a "
                        "search cannot resume on them: use a new --run-dir.") from None


def valid_values(values: list[Any] | None, n: int) -> bool:
    """Whether a COMPLETE trial's stored values are ``n`` finite numbers (what fronts and plots need)."""
    return (values is not None and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


def _rdb_backend(study: Any) -> Any:
    import optuna

    backend = getattr(study._storage, "_backend", study._storage)
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _raw_rdb(rdb: Any, study_name: str) -> list[StoredTrial]:
    """Trials, values and user attributes straight from Optuna's tables (SELECTs only)."""
    import sqlalchemy as sa

    q = {"study": "SELECT study_id FROM studies WHERE study_name = :n",
         "trials": "SELECT trial_id, number, state FROM trials WHERE study_id = :s ORDER BY number",
         "values": "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "
                   "JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = :s",
         "attrs": "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a "
                  "JOIN trials t ON t.trial_id = a.trial_id WHERE t.study_id = :s"}
    with rdb.engine.connect() as conn:
        sid = conn.execute(sa.text(q["study"]), {"n": study_name}).scalar_one()
        rows = list(conn.execute(sa.text(q["trials"]), {"s": sid}))
        values: dict[int, dict[int, Any]] = {}
        for tid, obj, value, kind in conn.execute(sa.text(q["values"]), {"s": sid}):
            values.setdefault(tid, {})[int(obj)] = _value(value, kind)
        attrs: dict[int, dict[str, Any]] = {}
        for tid, key, text in conn.execute(sa.text(q["attrs"]), {"s": sid}):
            try:
                attrs.setdefault(tid, {})[str(key)] = json.loads(text)
            except (TypeError, ValueError):
                continue  # an attribute that is not JSON is left out, like a value that is not a number
    out = []
    for tid, number, state in rows:
        v = values.get(tid)
        out.append(StoredTrial(int(number if number is not None else -1), str(state).split(".")[-1],
                               [v.get(i) for i in range(max(v) + 1)] if v else None, attrs.get(tid, {})))
    return out


def _value(value: Any, kind: Any) -> Any:
    kind = str(kind).split(".")[-1]
    if kind == "INF_POS":
        return math.inf
    if kind == "INF_NEG":
        return -math.inf
    return value
