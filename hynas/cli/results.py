"""`hynas plot`, `hynas export`: look at a run and take the winner away as code."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app
from hynas.errors import UserError


@app.command("plot")
def plot_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
             out: str = typer.Option("", help="output folder (default: the run directory)")) -> None:
    """Write pareto.png and pareto.html (front highlighted, dominated trials faded)."""
    from hynas.results.plots import plot_run
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    if not run.complete():
        raise UserError(f"{run_dir}: no completed trial to plot yet.")
    for p in plot_run(run, Path(out) if out else None):
        typer.echo(f"wrote {p}")


@app.command("export")
def export_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
               pick: str = typer.Option("knee", help="knee | fastest | most-accurate | trial:N"),
               out: str = typer.Option("model.py", help="output Python file"),
               onnx: bool = typer.Option(False, "--onnx", help="also write an ONNX file next to it")) -> None:
    """Write the chosen architecture as a standalone PyTorch file with a build() function."""
    from hynas.export import generate_source
    from hynas.export.pick import pick_trial
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    trial = pick_trial(run, pick)
    src = generate_source(trial.arch, title=f"Trial {trial.number} of the hynas run {run_dir} (pick: {pick}).",
                          scores={k: v for k, v in trial.values.items()})
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(src, encoding="utf-8")
    typer.echo(f"wrote {dest}: trial {trial.number}, {trial.arch.summary()}")
    typer.echo("  " + ", ".join(f"{k} {v:.4g}" for k, v in trial.values.items()))
    if onnx:
        from hynas.export.onnx import export_onnx

        p = export_onnx(trial.arch, dest.with_suffix(".onnx"))
        typer.echo(f"wrote {p}")
