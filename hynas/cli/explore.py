"""`hynas explore`: compare design spaces (EDFs), rank knobs (fANOVA), time block families at equal MACs."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app


@app.command("explore")
def explore_cmd(
    sources: list[str] = typer.Argument(..., help="spaces (YAML or shipped name; NAME@norules drops the layout "
                                                  "rules) and/or run directories"),
    samples: int = typer.Option(30, help="archs sampled per space"),
    proxy: str = typer.Option("naswot", help="zero-cost proxy for the accuracy signal (see `hynas list proxies`)"),
    target: str = typer.Option("ort-cpu", help="latency target"),
    latency: str = typer.Option("auto", help="auto (predictor if fitted, else measured) | predicted | measured"),
    resolution: int = typer.Option(0, help="evaluate spaces at this input resolution (default: each space's)"),
    blocks: bool = typer.Option(True, "--blocks/--no-blocks", help="time each body block at matched MACs"),
    map_size: int = typer.Option(14, help="map size for the block latency comparison"),
    block_macs: str = typer.Option("5,20,80", help="MAC levels (millions) the block widths are matched to"),
    seed: int = typer.Option(0),
    out: str = typer.Option("explore", help="output folder"),
) -> None:
    """EDFs of accuracy signal and latency per space, knob importance per objective, block latency vs MACs."""
    from hynas.errors import UserError
    from hynas.results.explore import (
        block_latency,
        body_types,
        importance,
        load_variant,
        run_samples,
        sample_space,
    )
    from hynas.results.explore_plots import write_all

    if latency not in ("auto", "predicted", "measured"):
        raise UserError(f"--latency '{latency}' is not known. Allowed: auto, predicted, measured.")
    if samples < 1:
        raise UserError("--samples must be at least 1.")
    say = lambda msg: typer.echo(msg, err=True)
    sets, spaces = [], []
    for src in sources:
        if (Path(src) / "run.json").is_file():
            from hynas.results.trials import load_run

            run = load_run(src)
            sets.append((run_samples(src), run.objectives))
            spaces.append(load_variant(run.meta["config"]["space"])[0])
        else:
            sets.append((sample_space(src, samples, seed=seed, proxy=proxy, target=target, latency=latency,
                                      resolution=resolution or None, progress=say), [proxy, "latency_ms"]))
            spaces.append(load_variant(src)[0])
    imp = {s.label: importance(s.study, objs, seed) for s, objs in sets}
    try:
        levels = tuple(float(v) * 1e6 for v in block_macs.split(",") if v.strip())
    except ValueError:
        raise UserError(f"--block-macs '{block_macs}': expected numbers (millions), e.g. 5,20,80.") from None
    points = block_latency(body_types(spaces), target=target, map_size=map_size, macs_levels=levels,
                           progress=say) if blocks else []
    paths, text = write_all(Path(out), [s for s, _ in sets], imp, points, target=target, map_size=map_size)
    typer.echo(text)
    from hynas.results.explore import layout_table

    for src in sources:  # a run with shape_sensitivity: it beside the attention share and place of each layout
        table = layout_table(src) if (Path(src) / "run.json").is_file() else ""
        if table:
            typer.echo(table)
    for p in paths:
        typer.echo(f"wrote {p}")
