"""The search loop (Optuna ask/tell) with budgets, de-duplication, constraints, failure isolation, resume.

Counting: the budget counts *evaluated* candidates (complete or failed). Candidates a rule
rejects before building and re-draws of an already evaluated (or in-flight) arch are
recorded as PRUNED with the reason and cost nothing. A trial left RUNNING by a killed
process is marked failed with reason "interrupted" when the run resumes; it does not
count, so its arch is evaluated again.

The loop knows a candidate only through a :class:`~hynas.search.types.Problem` (hynas spaces:
``problems.space.SpaceProblem``; NAS-Bench-201: ``problems.tabular.TabularProblem``) and runs
it on a registered backend (``hynas.search.backends``: "local", "ray"): every backend asks and
tells through :class:`Search`, so the study - and what plots and export read - is the same
whichever ran it.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.search.backends import BACKENDS
from hynas.search.config import Constraint, SearchConfig
from hynas.search.storage.liveness import INTERRUPTED, Heartbeat, owner, recover_interrupted
from hynas.search.types import Candidate, Evaluation, Problem, Pruned, Rejected, SearchSummary

MAX_CONSECUTIVE_SKIPS = 200
SKIP_OUTCOMES = {"rejected": "rejected", "duplicate_of": "duplicate", "screened_out": "screened_out",
                 "over_budget": "over_budget"}
__all__ = ["MAX_CONSECUTIVE_SKIPS", "Candidate", "Evaluation", "Rejected", "Search", "SearchSummary", "run_search"]


def _is_evaluated(t: Any) -> bool:
    from optuna.trial import TrialState

    reason = t.user_attrs.get("fail_reason")  # none: failed by Optuna's heartbeat check (a dead host)
    return (t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and reason is not None
                                               and not str(reason).startswith(INTERRUPTED))
            or (t.state == TrialState.PRUNED and "pruned_at_step" in t.user_attrs))


def _counts(t: Any) -> bool:
    """Whether a trial spends budget: evaluated, and not a --retry-failed re-run (its arch was counted once)."""
    return _is_evaluated(t) and "retry_of" not in t.user_attrs


class Search:
    """Ask/tell bookkeeping shared by every backend: budgets, de-duplication, constraints, counts."""

    def __init__(self, study: Any, problem: Problem, objectives: tuple[str, ...], budget: int,
                 time_budget_s: float | None = None, constraints: tuple[Constraint, ...] = (),
                 summary: SearchSummary | None = None, retry_failed: bool = False) -> None:
        """``retry_failed``: this session evaluates again, as new trials, exactly the archs whose last
        evaluation failed (``failures.retry_plan``), then stops; the budget does not limit it."""
        self.study, self.problem, self.objectives = study, problem, objectives
        self.budget, self.time_budget_s, self.constraints = budget, time_budget_s, constraints
        self.summary = summary or SearchSummary(run_dir="")
        from hynas.search.storage.mirror import StudyMirror

        self.mirror = StudyMirror(study)
        self.persistent = study  # what readers see; ``self.study`` is the in-memory copy the sampler asks
        self.study = self.mirror.local
        trials = self.mirror.loaded
        self.seen = {t.user_attrs["hash"]: t.number for t in trials if _is_evaluated(t) and "hash" in t.user_attrs}
        self.done = sum(_counts(t) for t in trials)  # all writers, all sessions: what the budget counts
        self.retry: list[Any] | None = None  # failed trials still to re-run (None: not a --retry-failed session)
        if retry_failed:
            from hynas.search.failures import retry_plan

            self.retry = retry_plan(trials, _is_evaluated)
            for t in self.retry:
                self.seen.pop(t.user_attrs["hash"], None)
            self.retry_total = len(self.retry)
        self.done_here = 0  # this session's evaluations
        self.in_flight: dict[str, Any] = {}  # key -> its RUNNING optuna Trial (local)
        self.others: dict[str, int] = {}  # key -> stored number of a trial another writer is evaluating now
        self._note_others([], [t for t in trials if t.state.name == "RUNNING"])
        self.skips = 0
        self._batch = 0
        self.rejections: Counter[str] = Counter()  # rule -> rejected draws, to explain an exhausted space
        self.start = time.monotonic()
        self.stop_requested = False

    def stop_reason(self) -> str | None:
        """Why no new candidate may start now (None: go on). In-flight ones count against the budget."""
        if self.retry is not None and not self.retry:
            return f"re-ran the {self.retry_total} failed trials (--retry-failed)"
        if self.retry is None and self.done + len(self.others) >= self.budget:
            return f"budget of {self.budget} evaluated candidates reached" + (
                f" (counting {len(self.others)} other writers are evaluating)" if self.others else "")
        if self.time_budget_s is not None and time.monotonic() - self.start >= self.time_budget_s:
            return f"time budget of {self.time_budget_s:.0f} s spent"
        if self.stop_requested:
            return "stopped by the user (SIGINT) after the current trial"
        if self.skips >= MAX_CONSECUTIVE_SKIPS:
            top = ", ".join(f"{rule} ({n}×)" for rule, n in self.rejections.most_common(3))
            return (f"{self.skips} draws in a row were duplicates or rejected by rules: "
                    "the space is exhausted or too constrained" + (f"; most rejected by: {top}" if top else ""))
        return None

    def can_start(self) -> bool:
        return self.stop_reason() is None and (
            self.retry is not None or self.done + len(self.others) + len(self.in_flight) < self.budget)

    def _note_others(self, finished: list[Any], running: list[Any]) -> None:
        """Count and de-duplicate against what other writers of the same study did (see ``mirror.sync``)."""
        for t in finished:
            if _is_evaluated(t):
                self.done += _counts(t)
                if "hash" in t.user_attrs:
                    self.seen.setdefault(t.user_attrs["hash"], t.number)
        self.others = {t.user_attrs["hash"]: t.number for t in running if "hash" in t.user_attrs}

    def _twin(self, key: str) -> int | None:
        if key in self.seen:
            return self.seen[key]
        if key in self.in_flight:
            return self.mirror.number(self.in_flight[key])
        return self.others.get(key)

    def ask(self) -> tuple[Any, Candidate] | None:
        """The next candidate worth evaluating (its trial is RUNNING), or None when the loop must stop.

        With a screening problem (``screen_size`` > 1, see ``problems.screen``), several proposals are
        drawn and cheaply scored; only the one the problem picks goes on to evaluation.
        """
        k = self.problem.screen_size
        if k <= 1 or self.retry is not None:  # a retry re-runs the failed arch itself, unscreened
            return self._ask_one()
        got: list[tuple[Any, Candidate]] = []
        for _ in range(k):
            self._batch = len(got)  # proposals of this screening round hold no budget slot of their own
            g = self._ask_one()
            if g is not None:
                got.append(g)
        self._batch = 0
        if not got:
            return None
        chosen, info = self.problem.pick([c for _, c in got])
        for i, (trial, cand) in enumerate(got):
            trial.set_user_attr("screen", info[i])
            if i != chosen:
                self.in_flight.pop(cand.key, None)
                self._skip(trial, "screened_out", self.mirror.number(got[chosen][0]))
        self.skips = 0
        return got[chosen]

    def _ask_one(self) -> tuple[Any, Candidate] | None:
        while self.stop_reason() is None:
            if self.retry:  # the failed trial's own parameters: the same arch, through the same decoder
                old = self.retry.pop(0)
                self.study.enqueue_trial(old.params, user_attrs={"retry_of": old.number}, skip_if_exists=False)
            trial = self.study.ask()
            trial.set_user_attr("owner", owner())
            try:
                cand = self.problem.propose(trial)
            except Rejected as e:
                self._skip(trial, "rejected", str(e))
                continue
            twin = self._twin(cand.key)
            if twin is not None:
                self._skip(trial, "duplicate_of", twin)
                continue
            for k, v in cand.attrs.items():
                trial.set_user_attr(k, v)
            self.mirror.create(trial)  # claim it in the storage (RUNNING, with its arch), then verify the claim
            if self._claim_lost(trial, cand.key):
                if self.stop_reason() is not None:
                    return None
                continue
            self.in_flight[cand.key] = trial
            return trial, cand
        return None

    def _claim_lost(self, trial: Any, key: str) -> bool:
        """After storing a claim, read what other writers did (an incremental read): if one of them
        evaluated or claimed the same arch first, or the budget is spent counting the claims stored
        before ours, ours is withdrawn (PRUNED). Claims are ordered by trial number, so of two
        writers racing for the same arch or the last budget slot exactly one goes on."""
        self._note_others(*self.mirror.sync())
        mine = self.mirror.number(trial)
        twin = self.seen.get(key, self.others.get(key))
        if twin is not None and twin < mine or key in self.seen:
            self._skip(trial, "duplicate_of", self.seen.get(key, twin))
            return True
        earlier = sum(n < mine for n in self.others.values())
        if self.retry is None and self.done + earlier + len(self.in_flight) - self._batch >= self.budget:
            self._skip(trial, "over_budget", self.budget)
            return True
        return False

    def _skip(self, trial: Any, attr: str, value: Any) -> None:
        """A proposal that is not evaluated. A rule rejection is FAIL (the candidate cannot exist; a sampler
        ignores it); a duplicate, a screened-out or an over-budget proposal is PRUNED (a real network not
        trained here). Every one carries its ``outcome`` and the detail under ``attr``."""
        from optuna.trial import TrialState

        trial.set_user_attr(attr, value)
        trial.set_user_attr("outcome", SKIP_OUTCOMES[attr])
        self.study.tell(trial, state=TrialState.FAIL if attr == "rejected" else TrialState.PRUNED)
        self.mirror.finish(trial)
        if attr == "rejected":
            self.summary.rejected += 1
            self.rejections[str(value).split(":")[0].strip()] += 1
        elif attr == "duplicate_of":
            self.summary.duplicates += 1
        elif attr == "screened_out":
            self.summary.screened_out += 1
        self.skips += 1

    def tell(self, trial: Any, cand: Candidate, outcome: Evaluation | BaseException) -> str:
        """Record one finished evaluation; returns 'complete', 'failed', 'rejected' or 'pruned'."""
        self.in_flight.pop(cand.key, None)
        if isinstance(outcome, Rejected):
            self._skip(trial, "rejected", str(outcome))
            return "rejected"
        self.skips = 0
        self.seen[cand.key] = self.mirror.number(trial)
        self.done += "retry_of" not in trial.user_attrs
        self.done_here += 1
        result = self._tell_outcome(trial, outcome)
        self.mirror.finish(trial)
        return result

    def event(self, trial: Any, status: str) -> dict[str, Any]:
        """What a progress display needs after a tell, without reading the study (``values``: a complete
        trial's objective values, else None)."""
        frozen = self.study._storage.get_trial(trial._trial_id) if trial is not None else None
        return self.stored_event(frozen, status, self.mirror.number(trial) if trial is not None else None)

    def stored_event(self, frozen: Any, status: str, number: int | None = None) -> dict[str, Any]:
        """:meth:`event` for a finished ``FrozenTrial`` (``number``: its stored number, default its own)."""
        start, end = (frozen.datetime_start, frozen.datetime_complete) if frozen else (None, None)
        number = number if number is not None or frozen is None else frozen.number
        return {"trial": number, "status": status,
                "values": frozen.values if frozen and status == "complete" else None, "done": self.done,
                "budget": self.budget, "directions": [d.name.lower() for d in self.study.directions],
                "objectives": list(self.objectives), "attrs": dict(frozen.user_attrs) if frozen else {},
                "seconds": (end - start).total_seconds() if start and end else None, "summary": self.summary}

    def _tell_outcome(self, trial: Any, outcome: Evaluation | BaseException) -> str:
        from optuna.trial import TrialState

        if isinstance(outcome, Pruned):
            for k, v in outcome.attrs.items():
                trial.set_user_attr(k, v)
            trial.set_user_attr("outcome", "pruned")
            if outcome.values:  # its measured cost axes; accuracy is the one at the rung, below
                trial.set_user_attr("pruned_values", {k: v for k, v in outcome.values.items() if k != "accuracy"})
            trial.set_user_attr("pruned_at_step", outcome.step)
            trial.set_user_attr("pruned_accuracy", outcome.accuracy)
            self.study.tell(trial, state=TrialState.PRUNED)
            self.summary.pruned += 1
            return "pruned"
        from hynas.search.failures import bad_values, failure_attrs

        if not isinstance(outcome, BaseException):
            for k, v in outcome.attrs.items():
                trial.set_user_attr(k, v)
        failed = failure_attrs(outcome) if isinstance(outcome, BaseException) else bad_values(
            outcome.values, self.objectives, outcome.attrs)
        if failed is not None:  # always with its reason and phase: counted, shown, and not re-run by a resume
            for k, v in failed.items():
                trial.set_user_attr(k, v)
            trial.set_user_attr("outcome", "failed")
            self.study.tell(trial, state=TrialState.FAIL)
            return "failed"
        trial.set_user_attr("outcome", "complete")
        if self.constraints:
            self._set_constraints(trial, outcome.values)
        self.study.tell(trial, [float(outcome.values[o]) for o in self.objectives])
        return "complete"

    def _set_constraints(self, trial: Any, values: dict[str, float]) -> None:
        """Optuna's constraint mechanism (<= 0 is feasible) plus a readable copy in the user attrs."""
        violations = [c.violation(values) for c in self.constraints]
        for c, v in zip(self.constraints, violations):
            trial.set_constraint(c.text, v)
        trial.set_user_attr("constraints", {c.text: v for c, v in zip(self.constraints, violations)})
        trial.set_user_attr("feasible", all(v <= 0 for v in violations))

    def abandon(self, trial: Any, cand: Candidate, reason: str = INTERRUPTED) -> None:
        """A candidate that will not finish in this session (KeyboardInterrupt, lost worker)."""
        from optuna.trial import TrialState

        self.in_flight.pop(cand.key, None)
        trial.set_user_attr("fail_reason", reason)
        trial.set_user_attr("outcome", "interrupted")
        self.study.tell(trial, state=TrialState.FAIL)
        self.mirror.finish(trial)

    def finish(self) -> SearchSummary:
        """Fill the summary from the study (all sessions) and this session's stop reason."""
        from optuna.trial import TrialState

        s = self.summary
        s.stop_reason = s.stop_reason or self.stop_reason() or "finished"
        s.elapsed_s = time.monotonic() - self.start
        s.evaluated = self.done_here
        trials = self.persistent.get_trials(deepcopy=False)
        redone = {t.user_attrs.get("retry_of") for t in trials if _is_evaluated(t)}  # failed, then re-run
        for t in trials:
            if t.state == TrialState.COMPLETE:
                s.complete += 1
                s.feasible += bool(t.user_attrs.get("feasible", True))
            elif _is_evaluated(t) and t.state == TrialState.FAIL and t.number not in redone:
                s.failed += 1
                full = str(t.user_attrs.get("fail_reason", "unknown"))
                reason = str(t.user_attrs.get("fail_class") or full.split(":")[0])
                s.failures[reason] = s.failures.get(reason, 0) + 1
                key = f"{full[:200]} (phase: {t.user_attrs.get('fail_phase', '?')})"
                s.reasons[key] = s.reasons.get(key, 0) + 1
        return s


def _check_existing_rows(cfg: SearchConfig) -> None:
    """Resuming: the stored study must be readable (check_resumable) before anything is written."""
    from hynas.search.storage.rows import check_resumable
    from hynas.search.storage.rundir import open_study, read_meta, storage_url

    if not (Path(cfg.run_dir) / "run.json").is_file():
        return
    old = read_meta(cfg.run_dir)
    try:
        study = open_study(old)
    except UserError:  # no study yet (a run.json without one): the search creates it
        return
    check_resumable(study, storage_url(old))


def run_search(cfg: SearchConfig, progress: Callable[[dict[str, Any]], None] | None = None,
               retry_failed: bool = False) -> SearchSummary:
    """Run (or resume) a search until its budget or time budget is spent (``retry_failed``: re-run the
    failed trials instead, see :class:`Search`).

    ``progress`` gets every event (see ``Search.event``); each finished candidate is also one line of
    ``RUN/search.log`` (``hynas.results.live``), followed by the session's summary.
    """
    from hynas.results.live import SearchLog, summary_lines
    from hynas.search.backends import preflight as backend_preflight
    from hynas.search.problems import make_problem
    from hynas.search.problems.scorers import short_name
    from hynas.search.samplers import make_sampler
    from hynas.search.storage.rows import check_resumable
    from hynas.search.storage.rundir import open_study, prepare, storage_url

    if retry_failed and cfg.backend == "tune":
        raise UserError("--retry-failed works with --backend local or ray; Ray Tune picks its own trials.")
    if retry_failed and not (Path(cfg.run_dir) / "run.json").is_file():
        raise UserError(f"--retry-failed: {cfg.run_dir} holds no run to resume (no run.json).")
    problem, space_text = make_problem(cfg)
    problem.preflight()  # an infeasible space is refused before a run directory is written
    backend_preflight(cfg.backend, cfg)  # so is a Ray cluster nothing answers at
    _check_existing_rows(cfg)  # a resume on rows Optuna cannot read is refused before run.json is rewritten
    meta = prepare(cfg, space_text, _fingerprint(cfg.target))
    study = open_study(meta, make_sampler(cfg.sampler, cfg.seed, len(cfg.objectives)), create=True)
    check_resumable(study, storage_url(meta))  # rows Optuna cannot read (a NULL value): exit 2, not a traceback
    _name_objectives(study, cfg)
    summary = SearchSummary(run_dir=cfg.run_dir, recovered=recover_interrupted(study))
    search = Search(study, problem, cfg.objectives, cfg.budget, cfg.time_budget_s, cfg.parsed_constraints(),
                    summary, retry_failed)
    log = SearchLog(Path(cfg.run_dir) / "search.log", short_name(cfg.as_dict()))

    def emit(event: dict[str, Any]) -> None:
        log.event(event)
        if progress is not None:
            progress(event)

    emit(search.event(None, "started"))  # the run directory is ready: displays may start
    with Heartbeat(search, cfg.heartbeat_s):
        BACKENDS.get(cfg.backend)(search, cfg, emit)
    summary = search.finish()
    for line in summary_lines(summary, log.best()):
        log.write(line)
    return summary


def _name_objectives(study: Any, cfg: SearchConfig) -> None:
    """The objectives' names and units as the study's metric names (what optuna-dashboard shows)."""
    from hynas.search.problems.scorers import objective_labels

    labels = objective_labels(cfg.as_dict())
    with warnings.catch_warnings():  # Optuna marks set_metric_names experimental
        warnings.simplefilter("ignore")
        study.set_metric_names([labels[o] for o in cfg.objectives])


def _fingerprint(target: str) -> dict[str, Any]:
    try:
        from hynas.latency import machine_fingerprint, resolve_target

        t = resolve_target(target)
        return {**machine_fingerprint(), "target": getattr(t, "name", target)}
    except Exception:  # noqa: BLE001 - the fingerprint is informative, never blocking
        return {}


def run_tabular(table: Any, sampler: Any, queries: int, objectives: Sequence[str] = ("accuracy",),
                storage: Any = None) -> Any:
    """One NAS-Bench-201 search (``table``: an ``hynas.nb201.NB201Table``) through the local loop; returns the
    finished Optuna study. ``queries`` counts distinct effective cells evaluated (duplicates and cells
    equivalent to an evaluated one cost nothing, as in any search)."""
    import optuna

    from hynas.search.config import OBJECTIVES
    from hynas.search.problems.tabular import TabularProblem

    study = optuna.create_study(storage=storage, sampler=sampler, directions=[OBJECTIVES[o] for o in objectives])
    BACKENDS.get("local")(Search(study, TabularProblem(table, objectives), tuple(objectives), queries))
    return study
