"""`hynas results`: what a run holds, in a few lines: outcomes, the front, every failure grouped by phase."""

from __future__ import annotations

import json
from collections import Counter

import typer

from hynas.cli import app


@app.command("results")
def results_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
                as_json: bool = typer.Option(False, "--json", help="print the same as JSON")) -> None:
    """Count the run's trials by outcome, list the Pareto front, and group the failed trials by phase and
    error (retry them with `hynas search --run-dir RUN --retry-failed`)."""
    from hynas.results.trials import load_run

    run = load_run(run_dir)  # read-only: rows no reader can use are skipped and counted in run.notes()
    kinds = Counter(t.kind for t in run.trials)
    front = sorted(run.front(), key=lambda t: t.number)
    failures = run.failures()
    if as_json:
        typer.echo(json.dumps({"run": run_dir, "objectives": run.objectives, "outcomes": dict(sorted(kinds.items())),
                               "front": [{"trial": t.number, **t.values} for t in front],
                               "failed": [{"phase": p, "error": c, "trials": n, "example": e}
                                          for p, c, n, e in failures],
                               "skipped": run.skipped}, indent=2))
        return
    typer.echo(f"{run_dir}: {len(run.trials)} trials: "
               + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none yet"))
    typer.echo(f"front ({' vs '.join(run.objectives)}): {len(front)} trials")
    for t in front:
        typer.echo(f"  trial {t.number:>4}  " + " · ".join(f"{k} {v:.4g}" for k, v in t.values.items()))
    if failures:
        from hynas.results.report import reproduce_command

        typer.echo(f"failed: {sum(n for _, _, n, _ in failures)} trials, by phase and error; to evaluate them "
                   f"again: {reproduce_command(run.meta)[0]} --retry-failed")
        for phase, _cls, n, example in failures:
            typer.echo(f"  {n}× [{phase}] {example[:200]}")
    for note in run.notes():
        typer.echo(note)
