"""The Tune backend (``--backend tune``): candidates run as Ray Tune trials, ASHA stops them by rung.

The search algorithm is ``hynas.tune``'s :class:`RunStudySearch` - Ray's ``OptunaSearch`` on
the run directory's own study, with the run's sampler and the space's define-by-run function
- and the trainable is ``hynas.tune.trainable``. Each Tune trial is a trial of the study with
the user attrs the engine writes (arch, hash, latency, outcome...), so ``hynas plot``,
``export`` and ``report`` read a Tune run like any other. Tune keeps its own experiment
files under ``RUN/tune``. The budget is the number of Tune trials (rule rejections
included: Tune's search algorithm draws them), ``--workers`` the trials run at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hynas.search.backends import BACKENDS, PREFLIGHTS
from hynas.search.backends.ray_tasks import check_resources, connect

if TYPE_CHECKING:
    from hynas.search.config import SearchConfig
    from hynas.search.engine import Search

REDUCTION = 3  # ASHA's reduction factor, as the engine's own rung rule (pruning.ETA)


def preflight(cfg: SearchConfig) -> None:
    """What Tune runs is a hynas space with ASHA on the training rungs: a table or --screen is refused (exit 2)."""
    from hynas.errors import UserError

    if cfg.table is not None:
        raise UserError("--backend tune searches a hynas space (--space); a --table search runs on local or ray.")
    if cfg.screen > 1:
        raise UserError("--backend tune does not screen proposals (--screen); Tune's ASHA stops candidates by rung "
                        "instead. Use --backend local or ray for --screen.")
    connect(cfg)


PREFLIGHTS["tune"] = preflight


@BACKENDS.decorator("tune")
def run_tune(search: Search, cfg: SearchConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Run the remaining budget as Tune trials with ASHA on ``accuracy`` at each evaluation step."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    import hynas.tune as ht
    from hynas.search.samplers import make_sampler
    from hynas.search.storage.rundir import STUDY_NAME

    connect(cfg)
    check_resources(float(cfg.worker_cpus), float(cfg.worker_gpus))
    remaining = search.budget - search.done
    if remaining <= 0:
        return
    emit = progress or (lambda e: None)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no TensorBoard/CSV loggers (NaN warnings)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no experiment tables on the terminal: hynas prints lines

    def told(ot_trial: Any, outcome: str) -> None:
        frozen = search.persistent._storage.get_trial(ot_trial._trial_id)
        if outcome == "rejected":
            search.summary.rejected += 1
        else:
            search.done += 1
            search.done_here += 1
            search.summary.pruned += outcome == "pruned"
        emit(search.stored_event(frozen, outcome))

    searcher = ht._search_class()(
        space=ht.define_by_run(search.problem.space), metric=list(cfg.objectives),
        mode=["max" if d == "maximize" else "min" for d in cfg.directions], sampler=make_sampler(
            cfg.sampler, cfg.seed, len(cfg.objectives)), study_name=STUDY_NAME, storage=search.persistent._storage,
        on_told=told)
    steps = int(cfg.train_steps)
    scheduler = ASHAScheduler(time_attr="step", metric="accuracy", mode="max", max_t=steps,
                              grace_period=max(1, steps // 4), reduction_factor=REDUCTION)
    trainable = tune.with_resources(ht.trainable(cfg), {"cpu": float(cfg.worker_cpus), "gpu": float(cfg.worker_gpus)})
    tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                                              num_samples=remaining,
                                                              max_concurrent_trials=cfg.workers),
                       run_config=tune.RunConfig(storage_path=str((Path(cfg.run_dir) / "tune").resolve()),
                                                 name="tune", verbose=0))
    tuner.fit()
