"""The sampler works on an in-memory copy of the study; the storage gets each trial in few writes.

Why: with SQLite (or any RDB) behind an Optuna study, every ``suggest_*`` and ``set_user_attr``
is its own transaction, and every ``study.get_trials`` of a sampler re-reads the unfinished
and newer trials (six SELECTs). At 1,000 trials that made the loop spend over a second per
evaluated trial in storage round trips, almost none of it in the sampler's own algorithm.

So the engine asks and tells on a *local* in-memory study (the sampler reads it at memory
speed) and mirrors each trial into the persistent study with whole-trial writes:

* a candidate accepted for evaluation is created there RUNNING with its parameters, owner
  and arch in one ``create_new_trial(template)`` (so a killed process leaves a trial the
  resume can recognise, and other writers see it in flight);
* when it finishes, the user attrs added meanwhile and the state/values are written;
* a candidate that is skipped (duplicate, rule rejection) is created already PRUNED, in
  one write.

Trials of other writers (a shared journal or RDB) are read back by :meth:`StudyMirror.sync`,
an incremental read, and added to the local study, so the sampler learns from them and the
engine's budget and de-duplication count them. Trial numbers are the storage's: with one
writer the local and stored numbers coincide; with several, :meth:`number` translates.
A study on ``InMemoryStorage`` is used directly (nothing to mirror).
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from optuna.trial import FrozenTrial, TrialState


class StudyMirror:
    def __init__(self, study: Any) -> None:
        import optuna

        self.persistent = study
        self.direct = isinstance(study._storage, optuna.storages.InMemoryStorage)
        self.loaded: list[FrozenTrial] = study.get_trials(deepcopy=False)
        self._own: dict[int, int] = {}  # local trial id -> stored trial id
        self._numbers: dict[int, int] = {}  # local trial id -> stored trial number
        self._written: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}  # local id -> stored (user, system)
        self._seen_ids: set[int] = set()  # stored trial ids already handled (own or added locally)
        self._running: dict[int, FrozenTrial] = {}  # stored id -> another writer's trial, RUNNING when last read
        self._max_id = max((t._trial_id for t in self.loaded), default=-1)
        self._rdb = None if self.direct else _rdb(study._storage)  # bulk row writes, or None: public API
        if self.direct:
            self.local = study
            return
        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the user's study was announced; this copy is ours
        try:
            self.local = optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=study.sampler,
                                             directions=study.directions, study_name=study.study_name)
        finally:
            optuna.logging.set_verbosity(level)
        for t in self.loaded:
            if t.state.is_finished():
                self._add_local(t)
            elif t.state == TrialState.RUNNING:
                self._running[t._trial_id] = t

    def _add_local(self, t: FrozenTrial) -> None:
        self._seen_ids.add(t._trial_id)
        try:
            t._validate()
            if t.state == TrialState.COMPLETE and len(t.values) != len(self.local.directions):
                raise ValueError(f"{len(t.values)} values for {len(self.local.directions)} objectives")
        except ValueError:  # a row another tool left unusable (e.g. values deleted): counted, not learnt from
            return
        local_id = self.local._storage.create_new_trial(self.local._study_id, template_trial=t)
        self._numbers[local_id] = t.number

    def number(self, trial: Any) -> int:
        """The stored trial number of a local trial (the number every reader of the study sees)."""
        return self._numbers.get(trial._trial_id, trial.number)

    def stored_id(self, trial: Any) -> int | None:
        """The stored trial id (heartbeats), None while the trial exists only locally."""
        return trial._trial_id if self.direct else self._own.get(trial._trial_id)

    def create(self, trial: Any) -> None:
        """Store a local trial as it is now (RUNNING, or already finished) in one write."""
        if self.direct:
            return
        frozen = self._frozen(trial)
        storage = self.persistent._storage
        if self._rdb is not None:
            sid, number = _rdb_create(self._rdb, self.persistent._study_id, frozen)
        else:
            sid = storage.create_new_trial(self.persistent._study_id, template_trial=frozen)
            number = storage.get_trial_number_from_id(sid)
        self._own[trial._trial_id] = sid
        self._seen_ids.add(sid)
        self._numbers[trial._trial_id] = number
        self._written[trial._trial_id] = (frozen.user_attrs, frozen.system_attrs)
        if frozen.state == TrialState.RUNNING and getattr(storage, "get_heartbeat_interval", lambda: None)():
            storage.record_heartbeat(sid)

    def finish(self, trial: Any) -> None:
        """Store a finished local trial: created in one write if new, else its new attrs and its state."""
        if self.direct:
            return
        if trial._trial_id not in self._own:
            self.create(trial)
            return
        frozen = self._frozen(trial)
        sid, storage = self._own[trial._trial_id], self.persistent._storage
        user, system = self._written.pop(trial._trial_id, ({}, {}))
        user = {k: v for k, v in frozen.user_attrs.items() if k not in user or user[k] != v}
        system = {k: v for k, v in frozen.system_attrs.items() if k not in system or system[k] != v}
        values = frozen.values if frozen.state == TrialState.COMPLETE else None
        if self._rdb is not None:
            _rdb_finish(self._rdb, sid, frozen, user, system, values)
            return
        for k, v in user.items():
            storage.set_trial_user_attr(sid, k, v)
        for k, v in system.items():
            storage.set_trial_system_attr(sid, k, v)
        for step, v in frozen.intermediate_values.items():
            storage.set_trial_intermediate_value(sid, step, v)
        storage.set_trial_state_values(sid, frozen.state, values)

    def sync(self) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
        """Other writers' news: (trials they finished since the last sync, trials they are evaluating now).

        Finished ones are added to the local study. Reads only what changed (RDB: the trials
        newer than the last seen and the state of those seen running; journal: Optuna replays
        only the new log records), so it is cheap to call before each evaluation.
        """
        if self.direct:
            return [], []
        new = []
        for t in self._changed():
            if t._trial_id in self._seen_ids:
                continue
            if t.state.is_finished():
                self._running.pop(t._trial_id, None)
                self._add_local(t)
                new.append(t)
            elif t.state == TrialState.RUNNING:
                self._running[t._trial_id] = t
        return new, list(self._running.values())

    def _changed(self) -> list[FrozenTrial]:
        storage = self.persistent._storage
        if self._rdb is None:
            return self.persistent.get_trials(deepcopy=False)
        rows = _rdb_changed(self._rdb, self.persistent._study_id, self._max_id, set(self._running))
        self._max_id = max([self._max_id] + [tid for tid, _ in rows])
        return [storage.get_trial(tid) for tid, state in rows
                if tid not in self._seen_ids and (state.is_finished() or tid not in self._running)]

    def _frozen(self, trial: Any) -> FrozenTrial:
        t = copy.deepcopy(self.local._storage.get_trial(trial._trial_id))
        if t.state.is_finished() and t.datetime_complete is None:
            t.datetime_complete = datetime.datetime.now()
        return t


# --------------------------------------------------------------------------- RDB: one transaction per write
# Optuna's RDBStorage commits every parameter and attribute separately through its ORM (two
# statements each), and its template-trial path re-queries each parameter's distribution over
# the whole study. The functions below write the same rows of Optuna's schema (the tables of
# ``optuna.storages._rdb.models``, datetimes as naive UTC like RDBStorage) with a few bulk
# statements in one transaction.

def _rdb(storage: Any) -> Any:
    """The RDBStorage behind ``storage`` (Optuna wraps it in a cache), or None for other storages."""
    import optuna

    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        return None
    # The bulk writes know one schema; any other (a future Optuna) takes the public, slower API.
    return backend if _schema_version(backend) in KNOWN_RDB_SCHEMAS else None


KNOWN_RDB_SCHEMAS = ("v3.2.0.a",)  # Optuna 4.x and 5.0


def _schema_version(rdb: Any) -> str | None:
    try:
        return str(rdb.get_current_version())
    except Exception:  # noqa: BLE001 - an unreadable version means: do not write rows by hand
        return None


def _utc(dt: datetime.datetime | None) -> datetime.datetime | None:
    return None if dt is None else dt.astimezone(datetime.UTC).replace(tzinfo=None)


def _rdb_create(rdb: Any, study_id: int, t: FrozenTrial) -> tuple[int, int]:
    import sqlalchemy as sa
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models as m

    trials = m.TrialModel.__table__
    with rdb.engine.begin() as conn:
        tid = conn.execute(sa.insert(trials).values(
            study_id=study_id, number=None, state=TrialState.RUNNING, datetime_start=_utc(t.datetime_start),
            datetime_complete=_utc(t.datetime_complete))).inserted_primary_key[0]
        number = conn.execute(sa.select(sa.func.count()).select_from(trials).where(
            trials.c.study_id == study_id, trials.c.trial_id < tid)).scalar_one()
        params = [{"trial_id": tid, "param_name": k, "param_value": t.distributions[k].to_internal_repr(v),
                   "distribution_json": distribution_to_json(t.distributions[k])} for k, v in t.params.items()]
        if params:
            conn.execute(sa.insert(m.TrialParamModel.__table__), params)
        _rdb_fields(conn, tid, t.user_attrs, t.system_attrs, t.intermediate_values, t.values)
        conn.execute(sa.update(trials).where(trials.c.trial_id == tid).values(number=number, state=t.state))
    return tid, number


def _rdb_finish(rdb: Any, sid: int, t: FrozenTrial, user: dict[str, Any], system: dict[str, Any],
                values: Any) -> None:
    import sqlalchemy as sa
    from optuna.storages._rdb import models as m

    trials = m.TrialModel.__table__
    with rdb.engine.begin() as conn:
        state = conn.execute(sa.select(trials.c.state).where(trials.c.trial_id == sid)).scalar_one()
        if state.is_finished():  # e.g. failed meanwhile by another host's stale-trial check
            from optuna.exceptions import UpdateFinishedTrialError

            raise UpdateFinishedTrialError(f"trial {sid} is already {state.name}; cannot record it again")
        _rdb_fields(conn, sid, user, system, t.intermediate_values, values, replace=True)
        conn.execute(sa.update(trials).where(trials.c.trial_id == sid).values(
            state=t.state, datetime_complete=_utc(datetime.datetime.now())))


def _rdb_fields(conn: Any, tid: int, user: dict[str, Any], system: dict[str, Any], intermediate: dict[int, float],
                values: Any, replace: bool = False) -> None:
    import json

    import sqlalchemy as sa
    from optuna.storages._rdb import models as m

    for model, attrs in ((m.TrialUserAttributeModel, user), (m.TrialSystemAttributeModel, system)):
        if not attrs:
            continue
        table = model.__table__
        if replace:
            conn.execute(sa.delete(table).where(table.c.trial_id == tid, table.c.key.in_(list(attrs))))
        conn.execute(sa.insert(table), [{"trial_id": tid, "key": k, "value_json": json.dumps(v)}
                                        for k, v in attrs.items()])
    if intermediate:
        table = m.TrialIntermediateValueModel.__table__
        conn.execute(sa.delete(table).where(table.c.trial_id == tid))
        rows = []
        for step, v in intermediate.items():
            stored, kind = m.TrialIntermediateValueModel.intermediate_value_to_stored_repr(v)
            rows.append({"trial_id": tid, "step": step, "intermediate_value": stored, "intermediate_value_type": kind})
        conn.execute(sa.insert(table), rows)
    if values:
        rows = []
        for i, v in enumerate(values):
            stored, kind = m.TrialValueModel.value_to_stored_repr(v)
            rows.append({"trial_id": tid, "objective": i, "value": stored, "value_type": kind})
        conn.execute(sa.insert(m.TrialValueModel.__table__), rows)


def _rdb_changed(rdb: Any, study_id: int, after_id: int, watch: set[int]) -> list[tuple[int, TrialState]]:
    """(trial id, state) of the trials newer than ``after_id`` and of the ``watch``ed ones: two indexed reads."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models as m

    trials = m.TrialModel.__table__
    cols = sa.select(trials.c.trial_id, trials.c.state)
    with rdb.engine.connect() as conn:
        rows = list(conn.execute(cols.where(trials.c.study_id == study_id, trials.c.trial_id > after_id)))
        if watch:
            rows += list(conn.execute(cols.where(trials.c.trial_id.in_(sorted(watch)))))
    return [(int(r[0]), r[1]) for r in rows]
