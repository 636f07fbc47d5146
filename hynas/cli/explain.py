"""`hynas explain`: T-TAME explanation maps of an exported model (or a run's pick), scored against Grad-CAM and RISE."""

from __future__ import annotations

from pathlib import Path

import typer

from hynas.cli import app
from hynas.errors import UserError


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"--out {out}: folder is not empty; choose a new one.")


@app.command("explain")
def explain_cmd(
    model: str = typer.Argument(..., help="an exported model.py, a folder holding model.py + model.pt, "
                                          "or a run directory (its --pick trial is trained first)"),
    weights: str = typer.Option("", help="state_dict file (default: the .pt next to model.py)"),
    data: str = typer.Option("", "--data", "--images", help="dataset name or path (default: the run's, else "
                                                            "digits); its train split trains the mechanism, "
                                                            "its held-out images are explained"),
    out: str = typer.Option("explain", help="output folder (must be new or empty)"),
    layers: str = typer.Option("", help="comma-separated module names to take feature maps from "
                                        "(default: the last three stages)"),
    steps: int = typer.Option(300, help="training steps of the attention mechanism"),
    count: int = typer.Option(16, help="held-out images written as PNG overlays"),
    eval_images: int = typer.Option(500, help="held-out images scored with AD / IC"),
    rise_masks: int = typer.Option(250, help="random masks per image for the RISE baseline (0: skip RISE)"),
    pick: str = typer.Option("knee", help="for a run directory: knee | fastest | most-accurate | trial:N"),
    train_steps: int = typer.Option(300, help="for a run directory: proxy-training steps of the picked arch"),
    seed: int = typer.Option(0),
) -> None:
    """Train a T-TAME attention mechanism on a frozen model; write overlays, AD/IC vs Grad-CAM and RISE."""
    from hynas.explain.load import check_data, load_exported, load_run
    from hynas.explain.pipeline import ExplainConfig, explain_model, write_outputs
    from hynas.proxy.data import load_dataset

    for name, v in (("--steps", steps), ("--count", count), ("--eval-images", eval_images),
                    ("--train-steps", train_steps)):
        if v < 1:
            raise UserError(f"{name} must be at least 1, got {v}.")
    if rise_masks < 0:
        raise UserError(f"--rise-masks must be 0 or more, got {rise_masks}.")
    out_dir = Path(out)
    _check_out(out_dir)
    src = Path(model)
    if (src / "run.json").is_file():
        if weights:
            raise UserError("--weights applies to an exported model.py, not to a run directory.")
        loaded = load_run(src, pick, train_steps, seed)
    else:
        loaded = load_exported(src, weights or None)
    data_name = data or loaded.dataset or "digits"
    ds = load_dataset(data_name)
    check_data(loaded, ds, data_name)
    cfg = ExplainConfig(steps=steps, seed=seed, count=count, eval_images=eval_images, rise_masks=rise_masks,
                        layers=tuple(s.strip() for s in layers.split(",") if s.strip()))
    res = explain_model(loaded, ds, cfg)
    paths = write_outputs(out_dir, res, ds, loaded, cfg, data_name)
    typer.echo(f"{loaded.source}: feature maps from {', '.join(res.layers)}; mechanism trained "
               f"{steps} steps in {res.train_seconds:.1f} s")
    for method, m in res.metrics.items():
        typer.echo(f"  {method:9s} AD {m['AD_100']:.1f} / {m['AD_50']:.1f} / {m['AD_15']:.1f}   "
                   f"IC {m['IC_100']:.1f} / {m['IC_50']:.1f} / {m['IC_15']:.1f}   "
                   f"(% at 100/50/15% of pixels kept; {res.ms_per_image[method]:.2f} ms/image)")
    typer.echo(f"wrote {len(paths)} files under {out_dir} (maps.png, explain.json, one folder of overlays "
               f"per method)")
