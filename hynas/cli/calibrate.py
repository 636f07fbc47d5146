"""`hynas calibrate`: adapt a target's predictor to this machine by timing a few whole archs here."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app


@app.command("calibrate")
def calibrate_cmd(
    target: str = typer.Option("ort-cpu", help="latency target whose predictor to adapt (`hynas list targets`)"),
    space: list[str] | None = typer.Option(
        None, "--space", help="space(s) to draw the archs from (default: the ones the predictor was profiled on)"
    ),
    archs: int = typer.Option(20, help="whole archs to time here (K); 5..500"),
    time_budget: str = typer.Option("60s", help="stop timing after this long once 5 archs are timed"),
    method: str = typer.Option("auto", help="global | family | auto (lower leave-one-out error)"),
    out: str = typer.Option("", help="file to write (default predictors/<target>.json; never the source)"),
    source: str = typer.Option("", help="predictor file to adapt (default: the target's own); another "
                               "target's file adapts it to this target"),
    seed: int = typer.Option(0),
) -> None:
    """Time K archs on this machine and write the target's predictor adapted to it (with a calibration record)."""
    from hynas.errors import UserError
    from hynas.latency.calibrate import calibrate_here
    from hynas.latency.predictor import Predictor, find_predictor
    from hynas.latency.target import resolve_target
    from hynas.search.config import parse_duration
    from hynas.space import load_space

    if not 5 <= archs <= 500:
        raise UserError(f"--archs must be in 5..500, got {archs}.")
    if method not in ("global", "family", "auto"):
        raise UserError(f"--method must be global, family or auto, got '{method}'.")
    budget = parse_duration(time_budget) or 60.0
    resolve_target(target)
    src = Path(source) if source else find_predictor(target)
    if not src.is_file():
        raise UserError(f"--source {src}: no such predictor file.")
    dest = Path(out or f"predictors/{target}.json")
    if dest.resolve() == src.resolve():
        raise UserError(f"--out {dest} is the source predictor itself; give another --out FILE "
                        f"(a predictors/ dir of your own project, or HYNAS_PREDICTORS).")
    pred = Predictor.load(src)
    spaces = list(space or []) or list(pred.meta.get("spaces") or ["default"])
    for s in spaces:
        load_space(s)
    adapted = calibrate_here(pred, src, target, spaces, archs, budget, seed, method, progress=typer.echo)
    path = adapted.save(dest)
    cal = adapted.meta["calibration"]
    fit = cal["fit"]
    factors = ", ".join(f"{t} {c:.2f}" for t, c in sorted(fit["type_factor"].items()))
    typer.echo(f"timed {cal['k']} archs in {cal['seconds']:.0f} s; {fit['method']} fit, global factor "
               f"{fit['global']:.3f}" + (f" (per block type: {factors})" if factors else ""))
    typer.echo("leave-one-out RMSE: " + ", ".join(f"{k} {v:.1f}%" for k, v in fit["loo_rmse_pct"].items()))
    typer.echo(f"wrote {path} (from {src})")
