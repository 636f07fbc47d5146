"""`hynas search`: multi-objective search within a budget, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hynas.cli import app
from hynas.errors import UserError


@app.command("search")
def search_cmd(
    space: str = typer.Option("default", help="space YAML, or a shipped space name"),
    target: str = typer.Option("ort-cpu", help="latency target (see `hynas list targets`)"),
    budget: int = typer.Option(20, help="number of distinct candidates to evaluate"),
    time_budget: str = typer.Option("", help="wall-clock budget, e.g. 10m; the run stops at whichever comes first"),
    sampler: str = typer.Option("", help="robust (default) | nsga2 | nsga3 | tpe | gp | bo | evolution | random"),
    seed: int = typer.Option(0),
    run_dir: str = typer.Option("runs/default", help="where the study and outputs go; re-run to resume"),
    storage: str = typer.Option("", help="Optuna storage: an RDB URL (postgresql://..., for several writers), "
                                "journal:PATH (a journal file, several processes/hosts on a shared FS); "
                                "default: SQLite in the run directory"),
    dataset: str = typer.Option("digits", help="proxy dataset (see `hynas list datasets`)"),
    proxy: str = typer.Option("train", help="'train' (short training) or a zero-cost proxy (`hynas list proxies`)"),
    train_steps: int = typer.Option(None, help="training steps per candidate for the 'train' proxy "
                                    "(default 300, or the --recipe file's steps/epochs)"),
    recipe: str = typer.Option("", help="a training recipe YAML (fields: docs/DATA.md); flags override it"),
    resolution: int = typer.Option(None, help="train at this size and build, time and export candidates at it "
                                   "(default: the data's native size)"),
    proxy_resolution: int = typer.Option(None, help="train and evaluate at this smaller size (EcoNAS-style), "
                                         "candidates still built and timed at --resolution"),
    epochs: float = typer.Option(None, help="train this many epochs instead of --train-steps"),
    batch_size: int = typer.Option(None, help="training batch size (default 64)"),
    lr: float = typer.Option(None, help="peak learning rate (default 0.002)"),
    optimizer: str = typer.Option(None, help="adamw (default) | sgd"),
    schedule: str = typer.Option(None, help="cosine (default) | linear | step | constant"),
    augment: str = typer.Option(None, help="none (default) | light | standard"),
    precision: str = typer.Option(None, help="auto (default: bf16/fp16 on CUDA, fp32 on CPU) | off | bf16 | fp16"),
    device: str = typer.Option(None, help="auto (default) | cpu | cuda | cuda:N"),
    train_samples: int = typer.Option(None, help="train on at most this many images per class (a balanced subset)"),
    teacher: str = typer.Option(None, help="distil from an exported model.py (its model.pt beside it)"),
    distill_temperature: float = typer.Option(None, help="--teacher: softmax temperature T (default 4; > 0, <= 100)"),
    distill_weight: float = typer.Option(None, help="--teacher: weight of the KL term, 1 - it for cross-entropy "
                                         "(default 0.5; 0 to 1)"),
    threads: int = typer.Option(None, help="CPU threads per candidate (default 0: HYNAS_THREADS, else every core "
                                "of its worker; 0 to 1024)"),
    loader_workers: int = typer.Option(None, help="DataLoader worker processes for streamed data "
                                       "(default min(4, half the threads); 0 to 64, 0 = decode in the trainer)"),
    params_objective: bool = typer.Option(False, "--params-objective", help="add params as a third objective"),
    objectives: str = typer.Option("accuracy,latency_ms", help="comma-separated objectives (accuracy, latency_ms, "
                                   "params_m, macs_g, shape_sensitivity and accuracy_int8: need --proxy train); 'accuracy' alone only with --table (default sampler: robust)"),
    predict: bool = typer.Option(False, "--predict", help="require the target's latency predictor "
                                 "(default: the predictor where one exists, else timing)"),
    measure: bool = typer.Option(False, "--measure", help="time every candidate on the target instead of predicting"),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="calibrate a predictor measured on "
                                   "another machine by timing a few archs here first (stored in the run directory)"),
    constraint: list[str] = typer.Option([], "--constraint",
                                         help="e.g. 'latency_ms<=5' (repeatable); names: "
                                         "accuracy, latency_ms, params_m, macs_g, shape_sensitivity, accuracy_int8; "
                                         "ops <=, >=, <, >"),
    backend: str = typer.Option("local", help="local | ray (Ray tasks) | tune (Ray Tune trials, ASHA by rung) (`hynas list backends`)"),
    workers: int = typer.Option(1, help="candidates evaluated in parallel: Ray tasks, or on the local backend "
                                "child processes, each with its share of the cores (or its own GPU)"),
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
    retry_failed: bool = typer.Option(False, "--retry-failed", help="resume by evaluating again exactly the "
                                      "trials that failed (as new trials; the failed ones stay recorded), then stop"),
    max_activation_mb: float = typer.Option(0.0, help="reject, before building it, a candidate whose predicted "
                                            "peak activations (batch 1, fp32) exceed this many MB (overrides the "
                                            "space's rules.max_activation_mb)"),
    int8_keep_bridges: bool = typer.Option(False, "--int8-keep-bridges", help="accuracy_int8: keep the bridge "
                                           "blocks (first attention block after convolution, per stage) in fp32, "
                                           "the rest int8 (mixed precision)"),
) -> None:
    """Multi-objective search (accuracy vs latency) within a budget; resumable."""
    from hynas.latency.predict import latency_source
    from hynas.search import SearchConfig, run_search
    from hynas.search.config import parse_duration
    from hynas.search.samplers import default_sampler

    objs = tuple(o.strip() for o in objectives.split(",") if o.strip())
    objs += ("params_m",) if params_objective and "params_m" not in objs else ()
    from hynas.proxy.recipe import recipe_from_options

    rec = recipe_from_options(recipe or None, default_steps=300, steps=train_steps, epochs=epochs,
                              batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule, augment=augment,
                              resolution=resolution, proxy_resolution=proxy_resolution, precision=precision,
                              device=device, train_samples=train_samples, teacher=teacher,
                              distill_temperature=distill_temperature, distill_weight=distill_weight,
                              threads=threads, loader_workers=loader_workers)
    steps, input_res, metric, data = _recipe_sizes(rec, dataset, table, space)
    cfg = SearchConfig(space=space, run_dir=run_dir, target=target, budget=budget,
                       time_budget_s=parse_duration(time_budget), sampler=sampler or default_sampler(len(objs)), seed=seed, storage=storage or None,
                       objectives=objs, dataset=dataset, proxy=proxy, train_steps=steps,
                       recipe=rec.to_dict() if not table else {}, input_resolution=input_res,
                       measure=measure or bool(table), constraints=tuple(constraint), backend=backend, workers=workers,
                       ray_address=ray_address or None, worker_cpus=worker_cpus, worker_gpus=worker_gpus,
                       table=table or None, table_accuracy=table_accuracy or None,
                       table_latency=table_latency or None, table_test=table_test or None, screen=screen, prune=prune,
                       heartbeat_s=heartbeat or None, trial_timeout_s=parse_duration(trial_timeout, "--trial-timeout"),
                       trial_memory_mb=trial_memory or None, metric=metric,
                       max_activation_mb=max_activation_mb or None, int8_keep_bridges=int8_keep_bridges)
    _check_names(cfg)
    _check_before_writing(cfg, data)
    if not table:  # after validation: calibrating writes RUN/predictor-<target>.json
        import dataclasses

        src = latency_source(target, measure=measure, predict=predict, calibrate=calibrate, run_dir=run_dir,
                             space=space, progress=typer.echo)
        for line in src.lines:
            typer.echo(line)
        cfg = dataclasses.replace(cfg, measure=src.timed, latency_predictor=src.record)
    from hynas.cli.search_progress import SearchProgress
    from hynas.results.live import summary_lines
    from hynas.search.problems.scorers import short_name

    with SearchProgress(budget, short_name(cfg.as_dict())) as bar:
        summary = run_search(cfg, progress=bar.update, retry_failed=retry_failed)
    for line in summary_lines(summary, bar.best()):
        typer.echo(line)
    if constraint:
        typer.echo(f"{summary.feasible} of {summary.complete} complete candidates meet the constraints")
    typer.echo(f"results in {run_dir} (each candidate in {run_dir}/search.log): `hynas plot {run_dir}`, "
               f"`hynas export {run_dir} --pick knee`")


def _recipe_sizes(rec: Any, dataset: str, table: str, space: str) -> tuple[int, int | None, str, Any]:
    """Steps per candidate and the size candidates are built at; prints the recipe line (first lines of a run)."""
    if table:
        return rec.steps or 300, None, "", None
    from hynas.proxy.data import DATASETS, load_dataset
    from hynas.proxy.device import check_runtime
    from hynas.proxy.recipe import describe

    if dataset not in DATASETS and not Path(dataset).exists():
        raise UserError(f"unknown dataset '{dataset}'. Known: {', '.join(DATASETS.names())}, or a path "
                        "(an ImageFolder, a CIFAR python folder or an .npz file; see docs/DATA.md).")
    rt = check_runtime(rec)  # --device cuda without a GPU is refused here, before anything is written
    data = load_dataset(dataset, recipe=rec)
    n = rec.cpu_threads()
    where = rt.describe() if rt.cuda else f"cpu {rt.describe().split(', ')[-1]}, {n} thread{'s' if n > 1 else ''}"
    typer.echo(f"data: {', '.join(f'{k} {v}' for k, v in data.describe().items())}")
    from hynas.proxy.tasks import task_of

    typer.echo(describe(rec, data.resolution, where, smoothed=task_of(data).smoothed))
    from hynas.search.problems.evaluate import check_data_fits
    from hynas.space import load_space

    check_data_fits(data, load_space(space), dataset)  # an image set on a signal space: refused before writing
    return rec.total_steps(data.train_size(rec)), rec.model_size(data.resolution), task_of(data).metric, data


def _check_names(cfg: Any) -> None:
    """Fail fast (exit 2) on an unknown target, dataset or space, before anything is written.

    Sampler, backend and proxy names are checked by ``SearchConfig`` itself (library calls too); what the
    backend needs (a Ray cluster that answers) by its preflight, here before calibration writes anything.
    """
    from hynas.search.backends import preflight

    preflight(cfg.backend, cfg)
    if cfg.table is not None:
        return
    from hynas.latency import resolve_target
    from hynas.space import load_space

    resolve_target(cfg.target)  # accepts NAME@bN batch variants
    load_space(cfg.space)  # the dataset was loaded (and refused if it cannot be) with the recipe, in _recipe_sizes


def _check_before_writing(cfg: Any, data: Any) -> None:
    """What run_search would refuse anyway, checked before calibration writes into the run directory
    (``data``: the dataset _recipe_sizes loaded, None for a table)."""
    from hynas.search.storage.rundir import read_meta
    from hynas.search.storage.urls import check_storage_url

    if cfg.storage is not None:
        check_storage_url(cfg.storage, cfg.run_dir)
    if (Path(cfg.run_dir) / "run.json").exists():
        read_meta(cfg.run_dir)  # a run.json from another version or a broken one is refused here
    from hynas.proxy.shape import check_train_size
    from hynas.search.problems.evaluate import trained_scores

    check_train_size(trained_scores(cfg), cfg.train_recipe(), cfg.input_resolution, cfg.dataset)  # patch grids
    if data is not None:  # int8 top-1 needs image classification data
        from hynas.search.problems.evaluate import check_int8_data

        check_int8_data(cfg, data)
