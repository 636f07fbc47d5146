"""`hynas show`: an architecture as a stage/block table, optionally drawn."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app


@app.command("show")
def show_cmd(arch: str = typer.Argument(..., help="reference model name (e.g. caformer_s18), arch JSON file, "
                                                  "RUN_DIR:trialN, or a fixed space YAML"),
             resolution: int = typer.Option(0, help="input resolution (default: the arch's)"),
             image: str = typer.Option("", "--image", help="also draw it to this file (.png or .svg)")) -> None:
    """Print the architecture stage by stage, block by block: widths, strides, maps, knobs, params, MACs."""
    from hynas.models import named_reference
    from hynas.results.archview import arch_rows, draw_arch, resolve_arch, rows_text

    ref = named_reference(arch)
    a, caption = (ref, arch) if ref is not None else resolve_arch(arch)
    res = resolution or None
    typer.echo(f"{caption}: {a.hash}  input {a.input['channels']}x{res or a.input['resolution']}"
               f"x{res or a.input['resolution']}, {a.input['classes']} classes")
    typer.echo(rows_text(arch_rows(a, res)))
    if image:
        p = draw_arch(a, Path(image), title=f"{caption}\n{a.summary()}", resolution=res)
        typer.echo(f"wrote {p}")
