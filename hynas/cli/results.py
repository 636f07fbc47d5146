"""`hynas plot`, `hynas export`: look at a run and take the winner away as code."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app
from hynas.errors import UserError


def load_landmarks(run, names: str, enabled: bool):
    """Score (or read from the run's cache) the reference models for a run's plots."""
    if not enabled:
        return []
    from hynas.results.landmarks import score_landmarks

    wanted = [n.strip() for n in names.split(",") if n.strip()] or None
    return score_landmarks(run, wanted, progress=lambda msg: typer.echo(msg, err=True))


@app.command("plot")
def plot_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
             out: str = typer.Option("", help="output folder (default: the run directory)"),
             no_landmarks: bool = typer.Option(False, "--no-landmarks", help="do not draw the published hybrids"),
             landmarks: str = typer.Option("", help="these reference models (comma-separated file stems, e.g. "
                                                    "caformer_s18,cvt_13), or 'all' of the run's input kind; "
                                                    "default: a few of its kind (nextvit_s, caformer_s18, "
                                                    "lowformer_b0, efficientformer_l1, mobilevit_s for images)")) -> None:
    """Write pareto.png/.html/.json: front, dominated trials, published hybrids scored like candidates."""
    from hynas.results.plots import plot_run
    from hynas.results.trials import load_run

    run = load_run(run_dir)
    for note in run.notes():  # rows skipped as unreadable, counted
        typer.echo(note, err=True)
    if not run.complete():
        raise UserError(f"{run_dir}: no completed trial to plot yet.")
    lms = load_landmarks(run, landmarks, not no_landmarks)
    for lm in lms:
        if lm.skipped:
            typer.echo(f"landmark {lm.label}: not drawn ({lm.skipped})")
        else:
            typer.echo(f"landmark {lm.label}: accuracy {lm.values['accuracy']:.4f}, "
                       f"latency {lm.values['latency_ms']:.3f} ms, params {lm.values['params_m']:.3f} M")
    for p in plot_run(run, Path(out) if out else None, lms):
        typer.echo(f"wrote {p}")


@app.command("export")
def export_cmd(run_dir: str = typer.Argument(..., help="a run directory"),
               pick: str = typer.Option("knee", help="knee | fastest | most-accurate | trial:N"),
               out: str = typer.Option("model.py", help="output Python file"),
               onnx: bool = typer.Option(False, "--onnx", help="also write an ONNX file next to it"),
               weights: bool = typer.Option(False, "--weights", help="also save the state_dict (.pt) next to it; "
                                                                     "trained when --train-steps > 0, else the init"),
               train_steps: int = typer.Option(0, help="train the picked arch this many steps on the run's dataset "
                                                        "(the run's proxy trainer) before saving weights/ONNX")) -> None:
    """Write the chosen architecture as a standalone PyTorch file with build(num_classes=, in_chans=)."""
    from hynas.export.bundle import export_bundle
    from hynas.export.pick import pick_trial
    from hynas.results.trials import load_run

    if train_steps < 0:
        raise UserError("--train-steps must be 0 or more.")
    from hynas.search.storage.runfile import check_output_file

    check_output_file(out)  # a directory, '', /proc/... or a path under a file: refused before reading the run
    run = load_run(run_dir)
    for note in run.notes():  # rows skipped as unreadable, counted
        typer.echo(note, err=True)
    trial = pick_trial(run, pick)
    bundle = export_bundle(run, trial, Path(out), pick=pick, weights=weights or train_steps > 0, onnx=onnx,
                           train_steps=train_steps)
    typer.echo(f"wrote {bundle.source}: trial {trial.number}, {trial.arch.summary()}")
    typer.echo("  " + ", ".join(f"{k} {v:.4g}" for k, v in trial.values.items()))
    if bundle.weights:
        trained = f"trained {train_steps} steps, held-out accuracy {bundle.accuracy:.4f}" if train_steps else "init"
        typer.echo(f"wrote {bundle.weights} ({trained}); load: net.load_state_dict(torch.load(path, "
                   f"weights_only=True))")
    if bundle.onnx:
        typer.echo(f"wrote {bundle.onnx}")
