"""`hynas profile`: measure a latency target on this machine and fit its predictor;
`hynas latency`: measure or predict one architecture."""

from __future__ import annotations

import json

import typer

from hynas.cli import app


@app.command("profile")
def profile_cmd(
    target: str = typer.Option("ort-cpu", help="latency target (`hynas list targets`); NAME@bN for batch N"),
    space: list[str] = typer.Option(["default"], "--space", help="space YAML or shipped name (repeatable)"),
    time_budget: str = typer.Option("15m", help="wall-clock budget for measuring, e.g. 15m, 900"),
    out: str = typer.Option("", help="predictor file to write (default predictors/<target>.json)"),
    seed: int = typer.Option(0),
    arch_share: float = typer.Option(
        0.35, help="share of the budget for whole archs (calibration, held-out check)"
    ),
) -> None:
    """Measure units and whole archs of the spaces on a target, fit a latency predictor, report its accuracy."""
    from hynas.errors import UserError
    from hynas.latency.profile import ProfileConfig, profile
    from hynas.search.config import parse_duration

    budget = parse_duration(time_budget) or 900.0
    if not 0.05 <= arch_share <= 0.95:
        raise UserError(f"--arch-share must be in 0.05..0.95, got {arch_share}.")
    cfg = ProfileConfig(
        target=target, spaces=tuple(space), time_budget_s=budget, seed=seed, arch_share=arch_share
    )
    rep = profile(cfg, progress=typer.echo)
    path = rep.predictor.save(out or f"predictors/{target}.json")
    typer.echo(
        f"measured {rep.units_measured} units and {rep.archs_measured} whole archs in {rep.seconds:.0f} s "
        f"({len(rep.failures)} failed)"
    )
    for name, acc in (("predictor", rep.heldout), ("MACs-only", rep.macs_baseline)):
        typer.echo(
            f"held-out archs (n={acc['n']}), {name:9s}: within ±10% {acc['within_10pct']:.0%}, "
            f"within ±5% {acc['within_5pct']:.0%}, RMSE {acc['rmse_pct']:.1f}%, "
            f"Spearman {acc['spearman']:.3f}"
        )
    for f in rep.failures[:5]:
        typer.echo(f"  failed: {f}", err=True)
    typer.echo(f"wrote {path}")


@app.command("latency")
def latency_cmd(
    arch: str = typer.Argument(..., help="arch JSON file, or a fixed-architecture space YAML"),
    target: str = typer.Option("ort-cpu", help="latency target; NAME@bN for batch N"),
    predict: bool = typer.Option(False, "--predict", help="use the target's predictor instead of timing"),
    resolution: int = typer.Option(0, help="input resolution (default: the arch's)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Latency of one architecture on a target: measured (default) or predicted."""
    from hynas.cli.basic import load_arch_or_spec
    from hynas.latency import measure_latency, predict_latency

    a = load_arch_or_spec(arch)
    r = (
        predict_latency(a, target, resolution=resolution or None)
        if predict
        else measure_latency(a, target, resolution=resolution or None)
    )
    for w in r.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        typer.echo(json.dumps({"hash": a.hash, **r.as_dict()}, indent=2))
        return
    spread = (
        f" (p10 {r.p10_ms:.3f}, p90 {r.p90_ms:.3f}, {r.repeats} repeats, {r.clock} clock)"
        if r.repeats
        else ""
    )
    typer.echo(
        f"{a.hash}  {r.target} batch {r.batch}, {r.threads} thread(s), {r.precision}: "
        f"{r.median_ms:.3f} ms {r.method}{spread}"
    )
    if r.method == "measured" and r.nominal_ms is not None:
        typer.echo(
            f"  at the machine's nominal speed (reference network {r.reference_ms:.3f} ms now): "
            f"{r.nominal_ms:.3f} ms"
        )
