"""`hynas search`: multi-objective search within a budget, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import typer

from hynas.cli import app
from hynas.errors import UserError


@app.command("search")
def search_cmd(
    space: str = typer.Option("default", help="space YAML, or a shipped space name"),
    target: str = typer.Option("ort-cpu", help="latency target (see `hynas list targets`)"),
    budget: int = typer.Option(20, help="number of distinct candidates to evaluate"),
    time_budget: str = typer.Option("", help="wall-clock budget, e.g. 10m; the run stops at whichever comes first"),
    sampler: str = typer.Option("", help="nsga2 (default) | nsga3 | tpe | gp | bo | evolution | random"),
    seed: int = typer.Option(0),
    run_dir: str = typer.Option("runs/default", help="where the study and outputs go; re-run to resume"),
    storage: str = typer.Option("", help="Optuna storage: an RDB URL (postgresql://..., for several writers), "
                                "journal:PATH (a journal file, several processes/hosts on a shared FS); "
                                "default: SQLite in the run directory"),
    dataset: str = typer.Option("digits", help="proxy dataset (see `hynas list datasets`)"),
    proxy: str = typer.Option("train", help="'train' (short training) or a zero-cost proxy (`hynas list proxies`)"),
    train_steps: int = typer.Option(300, help="training steps per candidate for the 'train' proxy"),
    params_objective: bool = typer.Option(False, "--params-objective", help="add params as a third objective"),
    objectives: str = typer.Option("accuracy,latency_ms", help="comma-separated objectives (accuracy, latency_ms, "
                                   "params_m, macs_g); 'accuracy' alone only with --table (default sampler: bo)"),
    predict: bool = typer.Option(False, "--predict", help="require the target's latency predictor "
                                 "(default: the predictor where one exists, else timing)"),
    measure: bool = typer.Option(False, "--measure", help="time every candidate on the target instead of predicting"),
    constraint: list[str] = typer.Option([], "--constraint",
                                         help="e.g. 'latency_ms<=5' (repeatable); names: "
                                         "accuracy, latency_ms, params_m, macs_g; ops <=, >=, <, >"),
    backend: str = typer.Option("local", help="local | ray (`hynas list backends`)"),
    workers: int = typer.Option(1, help="candidates evaluated in parallel (ray backend)"),
    ray_address: str = typer.Option("", help="ray backend: 'auto' or HOST:PORT of a running cluster "
                                    "(default: start a local Ray instance)"),
    worker_cpus: float = typer.Option(1.0, help="ray backend: CPUs each candidate reserves"),
    worker_gpus: float = typer.Option(0.0, help="ray backend: GPUs each candidate reserves (e.g. 1 with "
                                      "--target torch-cuda; fractions share a GPU)"),
    table: str = typer.Option("", help="search NAS-Bench-201 by table lookup instead of training: a shipped table "
                              "(nb201-cifar10: validation accuracy, Xeon latency; nb201-cifar100: test accuracy, "
                              "Pixel 3 latency) or an NB201-format CSV (.csv/.csv.gz with an arch_str column)"),
    table_accuracy: str = typer.Option("", help="--table: the column read as accuracy (default: the table's)"),
    table_latency: str = typer.Option("", help="--table: the latency column in ms, e.g. latency_ms_titan_rtx_1"),
    table_test: str = typer.Option("", help="--table: a test-accuracy column, reported beside what the search reads"),
    screen: int = typer.Option(1, help="multi-fidelity: cheap-score this many proposals (zero-cost proxy + "
                               "predicted latency) per trained candidate; 1 = off"),
    prune: bool = typer.Option(False, "--prune", help="multi-fidelity: stop training candidates that fall "
                               "behind at a rung (successive halving on the non-dominated rank)"),
    heartbeat: int = typer.Option(0, help="seconds between trial heartbeats (RDB/journal storage): trials of a "
                                  "dead host are failed after 4 missed beats"),
    trial_timeout: str = typer.Option("", help="per-candidate wall-clock cap, e.g. 5m: a candidate that hangs is "
                                      "killed and recorded as failed (runs each candidate in a child process)"),
    trial_memory: int = typer.Option(0, help="per-candidate memory cap in MB: a candidate that exceeds it is "
                                     "recorded as failed (runs each candidate in a child process)"),
) -> None:
    """Multi-objective search (accuracy vs latency) within a budget; resumable."""
    from hynas.latency.predict import latency_source
    from hynas.search import SearchConfig, run_search
    from hynas.search.config import parse_duration
    from hynas.search.samplers import default_sampler

    objs = tuple(o.strip() for o in objectives.split(",") if o.strip())
    timed, lines = (True, []) if table else latency_source(target, measure=measure, predict=predict)
    for line in lines:
        typer.echo(line)
    objs += ("params_m",) if params_objective and "params_m" not in objs else ()
    cfg = SearchConfig(space=space, run_dir=run_dir, target=target, budget=budget,
                       time_budget_s=parse_duration(time_budget), sampler=sampler or default_sampler(len(objs)), seed=seed, storage=storage or None,
                       objectives=objs, dataset=dataset, proxy=proxy, train_steps=train_steps,
                       measure=timed, constraints=tuple(constraint), backend=backend, workers=workers,
                       ray_address=ray_address or None, worker_cpus=worker_cpus, worker_gpus=worker_gpus,
                       table=table or None, table_accuracy=table_accuracy or None,
                       table_latency=table_latency or None, table_test=table_test or None, screen=screen, prune=prune,
                       heartbeat_s=heartbeat or None, trial_timeout_s=parse_duration(trial_timeout),
                       trial_memory_mb=trial_memory or None)
    _check_names(cfg)
    with _Progress(budget) as bar:
        summary = run_search(cfg, progress=bar.update)
    typer.echo(f"stopped: {summary.stop_reason}")
    typer.echo(f"evaluated {summary.evaluated} candidates in {summary.elapsed_s:.0f} s this session: "
               f"{summary.complete} complete, {summary.failed} failed"
               + (f" ({', '.join(f'{k}: {v}' for k, v in summary.failures.items())})" if summary.failures else "")
               + f"; {summary.rejected} rejected by rules, {summary.duplicates} duplicates skipped"
               + (f"; {summary.recovered} interrupted trials from an earlier run re-queued" if summary.recovered else "")
               + (f"; {summary.feasible} of {summary.complete} complete meet the constraints" if constraint else "")
               + (f"; {summary.screened_out} screened out by the cheap score" if summary.screened_out else "")
               + (f"; {summary.pruned} stopped early at a rung" if summary.pruned else ""))
    typer.echo(f"results in {run_dir}: `hynas plot {run_dir}`, `hynas export {run_dir} --pick knee`")


def _check_names(cfg: Any) -> None:
    """Fail fast (exit 2) on an unknown target, dataset or space, before anything is written.

    Sampler, backend and proxy names are checked by ``SearchConfig`` itself (library calls too).
    """
    if cfg.table is not None:
        return
    from hynas.latency import resolve_target
    from hynas.proxy.data import DATASETS, load_dataset
    from hynas.space import load_space

    resolve_target(cfg.target)  # accepts NAME@bN batch variants
    if cfg.dataset not in DATASETS and not Path(cfg.dataset).exists():
        raise UserError(f"unknown dataset '{cfg.dataset}'. Known: {', '.join(DATASETS.names())}, or a path.")
    load_dataset(cfg.dataset)  # a dataset that cannot load stops the search here, not in every candidate
    load_space(cfg.space)


class _Progress:
    """A rich progress bar: trials done, best accuracy, fastest candidate, hypervolume."""

    def __init__(self, budget: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from hynas.results.pareto import RunningFront

        self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), transient=False)
        self.budget = budget
        self.front = RunningFront()

    def __enter__(self) -> Self:
        self.task: Any = None  # the bar appears with the search's first event: nothing shows before a refusal
        return self

    def update(self, event: dict[str, Any]) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=self.budget)
        values, dirs = event.get("values"), event.get("directions", [])
        if values is not None:
            self.front.add(values, dirs)
        desc = ""
        if self.front.points:
            pts = self.front.points
            desc = f"best acc {max(p[0] for p in pts):.3f}" + (
                f" · fastest {min(p[1] for p in pts):.3f} ms" if len(dirs) > 1 else "") + \
                f" · HV {self.front.hypervolume():.4g}"
        self.progress.update(self.task, completed=min(event["done"], self.budget), description=desc)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
