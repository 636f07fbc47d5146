"""`hynas report`: one self-contained HTML page for a run."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app


@app.command("report")
def report_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
               out: str = typer.Option("", help="output HTML file (default: RUN_DIR/report.html)"),
               pick: str = typer.Option("knee", help="the architecture to draw: knee | fastest | most-accurate | "
                                                     "trial:N"),
               no_landmarks: bool = typer.Option(False, "--no-landmarks", help="leave the published hybrids out"),
               landmarks: str = typer.Option("", help="only these reference models (comma-separated file stems)"),
               ) -> None:
    """Config, budget spent, Pareto table, plots, the chosen arch drawn, and how to reproduce it (one HTML)."""
    from hynas.cli.results import load_landmarks
    from hynas.errors import UserError
    from hynas.results.report import build_report, reproduce_text
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    for note in run.notes():  # rows skipped as unreadable, counted
        typer.echo(note, err=True)
    if not run.complete():
        raise UserError(f"{run_dir}: no completed trial to report yet.")
    lms = load_landmarks(run, landmarks, not no_landmarks)
    dest = Path(out) if out else Path(run_dir) / "report.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(build_report(run, lms, pick), encoding="utf-8")
    typer.echo(f"wrote {dest}")
    typer.echo("how to reproduce:\n  " + reproduce_text(run, pick).replace("\n", "\n  "))
