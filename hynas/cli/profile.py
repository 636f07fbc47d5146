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
    kit: str = typer.Option("", help="write a profile kit into this new directory for a device hynas does not run "
                            "on (--target names the device); run its run_kit.py there"),
    import_: str = typer.Option("", "--import", help="fit a predictor from a kit's KIT/timings.json"),
    remote: str = typer.Option("", help="with --kit: copy, run and fetch it over SSH, ssh://user@host[:port]"),
    ssh_option: list[str] | None = typer.Option(None, "--ssh-option", help="with --remote: an ssh -o Key=Value"),
    remote_python: str = typer.Option("python3", help="with --remote: the device's Python (with the kit's runtime, "
                                      "numpy)"),
    threads: int = typer.Option(1, help="with --kit: the runtime's threads on the device"),
    kit_mb: int = typer.Option(1000, help="with --kit: about how many MB of models to write at most"),
    kit_runtime: str = typer.Option("onnxruntime", help="with --kit: the runtime the device times with: onnxruntime "
                                    "(ONNX models) or litert (TFLite models, converted here by litert-torch)"),
) -> None:
    """Measure units and whole archs of the spaces on a target, fit a latency predictor, report its accuracy.

    With --kit, write what to measure for another device instead; with --import, fit from its timings."""
    from hynas.errors import UserError
    from hynas.latency.profile import ProfileConfig, profile
    from hynas.search.config import parse_duration

    budget = parse_duration(time_budget) or 900.0
    if import_ or kit or remote:
        return _kit_cmd(kit, import_, remote, ssh_option or [], remote_python, target, space, budget, seed, out,
                        threads, kit_mb, kit_runtime)
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
    _echo_accuracy(rep.heldout, rep.macs_baseline)
    for f in rep.failures[:5]:
        typer.echo(f"  failed: {f}", err=True)
    typer.echo(f"wrote {path}")


def _echo_accuracy(heldout: dict, macs: dict) -> None:
    for name, acc in (("predictor", heldout), ("MACs-only", macs)):
        typer.echo(
            f"held-out archs (n={acc['n']}), {name:9s}: within ±10% {acc['within_10pct']:.0%}, "
            f"within ±5% {acc['within_5pct']:.0%}, RMSE {acc['rmse_pct']:.1f}%, "
            f"Spearman {acc['spearman']:.3f}"
        )


def _kit_cmd(kit: str, import_: str, remote: str, ssh_options: list[str], python: str, target: str,
             spaces: list[str], budget: float, seed: int, out: str, threads: int, kit_mb: int,
             kit_runtime: str = "onnxruntime") -> None:
    """--kit (write; with --remote also run, fetch and import) or --import (fit from timings)."""
    from pathlib import Path

    from hynas.errors import UserError
    from hynas.latency.kit import check_kit_dir, check_kit_name, check_kit_runtime, write_kit
    from hynas.latency.kit_import import fit_from_kit
    from hynas.latency.remote import parse_remote

    if kit and import_:
        raise UserError("--kit writes a kit and --import reads its timings; give one of them.")
    if remote and not kit:
        raise UserError("--remote runs a kit on a device: give --kit DIR (a new directory) with it.")
    if kit:
        check_kit_name(target)
        check_kit_dir(Path(kit))
        check_kit_runtime(kit_runtime)
        if len(spaces) != 1:
            raise UserError(f"a kit is made for one space; got --space {' --space '.join(spaces)}.")
        if not 1 <= threads <= 256:
            raise UserError(f"--threads must be in 1..256, got {threads}.")
        if kit_mb < 1:
            raise UserError(f"--kit-mb must be at least 1, got {kit_mb}.")
        dev = parse_remote(remote, ssh_options, python) if remote else None
        m = write_kit(kit, target, spaces[0], budget, seed, threads, kit_mb * 1e6, progress=typer.echo,
                      runtime=kit_runtime)
        typer.echo(f"wrote kit {kit}: {len(m['units'])} units, {len(m['archs'])} whole archs for '{target}'")
        if dev is None:
            needs = "ai-edge-litert (or tflite-runtime)" if kit_runtime == "litert" else "onnxruntime"
            typer.echo(f"next: copy {kit} to the device, run `python3 run_kit.py` there (needs {needs} and "
                       f"numpy only), then `hynas profile --import {kit}/timings.json --out predictors/{target}.json`")
            return
        typer.echo(f"running it on {remote} ...")
        import_ = str(dev.run_kit(Path(kit)))
    pred = fit_from_kit(import_)
    name = pred.target["name"]
    _echo_accuracy(pred.meta["heldout_accuracy"], pred.meta["macs_baseline_heldout"])
    path = pred.save(out or f"predictors/{name}.json")
    typer.echo(f"wrote {path}: `hynas search --target {name}` predicts with it (a kit target predicts only; "
               "--measure needs the device)")


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
