"""hynas candidates in Ray Tune: a define-by-run space for ``OptunaSearch`` and a trainable for a ``Tuner``.

For Ray Tune users::

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch
    import hynas.tune
    from hynas.search import SearchConfig

    cfg = SearchConfig(space="default", run_dir="runs/tune", train_steps=200, measure=False)
    tuner = tune.Tuner(
        hynas.tune.trainable(cfg),
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(space=hynas.tune.define_by_run(cfg.space),
                                    metric=["accuracy", "latency_ms"], mode=["max", "min"]),
            scheduler=ASHAScheduler(metric="accuracy", mode="max", time_attr="step", max_t=200,
                                    grace_period=50),
            num_samples=16))
    tuner.fit()

The space function draws one architecture from the trial (``suggest_categorical`` through the
space decoder, as the hynas engine does) and hands it to the trainable in the config
(``hynas_arch``). The trainable scores the candidate as a hynas search would (global limits,
latency timed or predicted on the target, short training or a zero-cost proxy) and reports
``accuracy`` with ``step`` at each intermediate evaluation (``tune.report``; the other
objectives are NaN there, as Tune wants every metric in every result), so Tune's schedulers
stop candidates by rung; the last report (``hynas_final``) has every objective and, as
JSON, the attributes a hynas run keeps (``hynas_attrs``). A candidate a
rule rejects or that fails reports ``hynas_rejected`` or ``hynas_failed`` with the reason
instead of raising, so its reason reaches the study.

``hynas search --backend tune`` runs exactly this inside a run directory: the search
algorithm is :class:`RunStudySearch`, an ``OptunaSearch`` on the run's own study, which
records each outcome the way the engine does (complete; failed with reason; rejected by a
rule; pruned at a rung), so plots, export and reports read it like any other run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

ARCH_KEY, ATTRS_KEY = "hynas_arch", "hynas_attrs"


def define_by_run(space: Any) -> Callable[[Any], dict[str, Any]]:
    """``fn(optuna_trial) -> constants``: the space's decisions suggested on the trial, the arch returned."""
    from hynas.space import OptunaChooser, decode, load_space

    sp = load_space(space) if isinstance(space, str) else space

    def define(trial: Any) -> dict[str, Any]:
        arch, _ = decode(sp, OptunaChooser(trial))
        for k, v in {"arch": arch.to_dict(), "hash": arch.hash, "summary": arch.summary()}.items():
            trial.set_user_attr(k, v)
        return {ARCH_KEY: arch.to_dict()}

    return define


def trainable(cfg: Any) -> Callable[[dict[str, Any]], None]:
    """A Tune function trainable scoring ``config[ARCH_KEY]`` with the search config ``cfg`` (a SearchConfig)."""

    def run(config: dict[str, Any]) -> None:
        from ray import tune

        tune.report(score_candidate(cfg, config[ARCH_KEY], lambda r: tune.report(r)))

    return run


def score_candidate(cfg: Any, arch_dict: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The final result of one candidate; ``report`` gets ``{"accuracy", "step"}`` at each intermediate evaluation."""
    from hynas.search.problems.space import SpaceProblem
    from hynas.search.types import Candidate, Rejected
    from hynas.space.arch import Arch
    from hynas.space.sampling import rule_violations

    problem = SpaceProblem(cfg)
    arch = Arch(arch_dict)
    unknown = {o: float("nan") for o in cfg.objectives}  # Tune wants every metric in every result

    def intermediate(step: int, acc: float) -> bool:
        report({**unknown, "accuracy": float(acc), "step": int(step)})
        return False  # Tune's scheduler decides; a stopped trial never returns here

    try:
        why = rule_violations(problem.space, arch)
        if why:
            raise Rejected(why[0])
        ev = problem.evaluate(Candidate(key=arch.hash, attrs={}, payload=arch), intermediate)
    except Rejected as e:
        return {**unknown, "hynas_rejected": str(e), "accuracy": float("-inf"), "step": 0}
    except Exception as e:  # noqa: BLE001 - reported as the trial's failure, with its reason
        return {**unknown, "hynas_failed": f"{type(e).__name__}: {e}"[:500], "accuracy": float("-inf"), "step": 0}
    return {**ev.values, "step": int(cfg.train_steps), "hynas_final": True,
            ATTRS_KEY: json.dumps(ev.attrs, default=str)}


def _search_class() -> type:
    from ray.tune.search.optuna import OptunaSearch

    class RunStudySearch(OptunaSearch):
        """OptunaSearch on a hynas run's study, telling each outcome as the engine would."""

        def __init__(self, *args: Any, on_told: Callable[[Any, str], None] | None = None, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self._on_told = on_told

        def __getstate__(self) -> dict[str, Any]:
            """Tune pickles its config into the experiment folder: the live study, storage and callback stay
            with the driver (they hold database connections and locks)."""
            state = self.__dict__.copy()
            for k in ("_on_told", "_ot_study", "_storage", "_ot_trials"):
                state[k] = None if k != "_ot_trials" else {}
            return state

        def save(self, checkpoint_path: str) -> None:
            """Nothing to save: every outcome is already in the run's study, which is what a resume reads."""

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self._completed_trials or trial_id not in self._ot_trials:
                return
            ot_trial = self._ot_trials[trial_id]
            status = tell_outcome(self._ot_study, ot_trial, result or {}, error, list(self.metric))
            self._completed_trials.add(trial_id)
            if self._on_told is not None:
                self._on_told(ot_trial, status)

    return RunStudySearch


def tell_outcome(study: Any, trial: Any, result: dict[str, Any], error: bool, metrics: list[str]) -> str:
    """Record a finished Tune trial on the Optuna trial: complete, failed, rejected or pruned (stopped by the
    scheduler before its last report). Returns the outcome."""
    from optuna.trial import TrialState

    attrs = json.loads(result.get(ATTRS_KEY) or "{}")
    if result.get("hynas_rejected"):
        attrs.update(rejected=result["hynas_rejected"], outcome="rejected")
        state, values = TrialState.FAIL, None
    elif error or result.get("hynas_failed"):
        attrs.update(fail_reason=result.get("hynas_failed") or "the Tune trial raised (see the Tune logs)",
                     outcome="failed")
        state, values = TrialState.FAIL, None
    elif result.get("hynas_final"):
        attrs["outcome"] = "complete"
        state, values = TrialState.COMPLETE, [float(result[m]) for m in metrics]
    else:  # stopped by the scheduler at a rung: its last intermediate report
        attrs.update(outcome="pruned", pruned_at_step=int(result.get("step", 0)),
                     pruned_accuracy=float(result.get("accuracy", float("nan"))))
        state, values = TrialState.PRUNED, None
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    study.tell(trial, values, state=state)
    return str(attrs["outcome"])
