"""`hynas space`, `hynas info`, `hynas list`: look at spaces, archs and what is registered."""

from __future__ import annotations

import json
import random
from pathlib import Path

import typer

from hynas.cli import app
from hynas.errors import UserError


def load_arch_or_spec(path: str):
    """An Arch from a JSON file, a reference model's name, or the single arch of a fixed space YAML."""
    from hynas.models import named_reference
    from hynas.space import Arch, fixed_arch, load_space

    ref = named_reference(path)
    if ref is not None:
        return ref
    p = Path(path)
    if p.suffix == ".json":
        if not p.is_file():
            raise UserError(f"{p}: file not found.")
        from hynas.build import validate_arch

        try:
            arch = Arch.from_json(p.read_text(encoding="utf-8"))
            validate_arch(arch)  # types, registered blocks, knob values: before any cost is computed
        except (ValueError, UnicodeDecodeError, UserError) as e:
            raise UserError(f"{p}: not a JSON arch ({e}).") from None
        return arch
    return fixed_arch(load_space(path))


@app.command("space")
def space_cmd(file: str = typer.Argument(..., help="space YAML (or a shipped space name, e.g. 'default')"),
              sample: int = typer.Option(0, "--sample", help="print N random architectures"),
              as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
              seed: int = typer.Option(0, "--seed")) -> None:
    """Validate a space and print its size (number of distinct architectures)."""
    from hynas.search.problems.evaluate import limits_check
    from hynas.space import load_space
    from hynas.space import sample as draw
    from hynas.space.size import count_space

    sp = load_space(file)
    count = count_space(sp)  # exact, or an upper bound that says so (never enumerates combinations)
    rng = random.Random(seed)
    check = limits_check(sp) if sample else None  # max_params / max_macs need the block formulas
    archs = [draw(sp, rng, check=check) for _ in range(sample)]
    if as_json:
        out = {"name": sp.name, "file": sp.file, "size": str(count.value), "size_exact": count.exact,
               "stages": len(sp.stages)}
        if sample:
            out["archs"] = [a.to_dict() | {"hash": a.hash} for a in archs]
        typer.echo(json.dumps(out, indent=2))
        return
    bound = "" if count.exact else " (the asymmetry rule is not counted: exact counting would take too long)"
    typer.echo(f"{sp.name}: {count.text()} architectures{bound} ({len(sp.stages)} stages; file {sp.file})")
    for a in archs:
        typer.echo(f"  {a.hash}  {a.summary()}")


@app.command("info")
def info_cmd(arch: str = typer.Argument(..., help="reference model name (`hynas list models`), arch JSON file, "
                                                  "or a fixed-architecture space YAML"),
             resolution: int = typer.Option(0, help="input resolution (default: the arch's)"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Params, MACs and peak activation memory of an architecture."""
    from hynas.cost import arch_cost

    a = load_arch_or_spec(arch)
    res = resolution or a.input["resolution"]
    c = arch_cost(a, res)
    if as_json:
        typer.echo(json.dumps({"hash": a.hash, "resolution": res, **c.as_dict()}, indent=2))
        return
    typer.echo(f"{a.hash}  {a.summary()}")
    typer.echo(f"resolution {res}x{res}: params {c.params / 1e6:.3f} M, MACs {c.macs / 1e9:.3f} G, "
               f"peak activations {c.peak_activation_bytes / 2**20:.2f} MiB (batch 1, fp32)")


@app.command("list")
def list_cmd(what: str = typer.Argument("blocks", help="blocks | models | targets | proxies | scores | datasets | "
                                                      "samplers | backends")) -> None:
    """List what is registered, or the shipped reference models with their params and MACs."""
    from hynas.registry import Registry

    regs = _registries()
    if what == "models":
        _list_models()
        return
    if what not in regs:
        raise UserError(f"unknown list '{what}'. Known: {', '.join(sorted([*regs, 'models']))}.")
    reg: Registry = regs[what]()
    if what == "blocks":
        for name, cls in reg.items():
            info = cls.block_info
            knobs = ", ".join(f"{k}={v.allowed_text()}" for k, v in sorted(info.knobs.items())) or "-"
            tag = " [attention]" if info.attention else ""
            kinds = "/".join(f"{d}-D" for d in info.dims)
            typer.echo(f"{name:18s} {info.role:10s} {info.family:12s} {kinds:6s}{tag}\n    {info.doc}\n"
                       f"    paper: {info.paper}"
                       f"\n    knobs: {knobs}")
        return
    for name, item in reg.items():
        doc = (getattr(item, "__doc__", None) or "").strip().splitlines()
        why = item.unavailable() if what == "targets" else None  # targets say whether they run here
        typer.echo(f"{name:18s} {doc[0] if doc else ''}" + (f"\n    unavailable here: {why}" if why else ""))


def _list_models() -> None:
    """Each reference model, counted now from its built network (params, traced MACs)."""
    from hynas.models import list_models, model_costs

    names = list_models()
    w = max(len(n) for n in [*names, "model"])
    typer.echo(f"{'model':{w}s} {'input':>7s} {'params (M)':>10s} {'MACs (G)':>9s}")
    for name in names:  # one at a time, so the first lines show while the rest are counted
        c = model_costs([name])[0]
        typer.echo(f"{c.name:{w}s} {c.resolution:>7d} {c.params / 1e6:>10.2f} {c.macs / 1e9:>9.2f}")


def _registries() -> dict:
    def blocks():
        from hynas.blocks import BLOCKS
        return BLOCKS

    def targets():
        from hynas.latency import TARGETS
        return TARGETS

    def proxies():
        from hynas.proxy.zero_cost import ZERO_COST
        return ZERO_COST

    def scores():  # post-training scores a search can take as objectives (--objectives ...,shape_sensitivity)
        from hynas.proxy.shape import TRAINED_SCORES
        return TRAINED_SCORES

    def datasets():
        from hynas.proxy.data import DATASETS
        return DATASETS

    def samplers():
        from hynas.search.samplers import SAMPLERS
        return SAMPLERS

    def backends():
        from hynas.search.backends import BACKENDS
        return BACKENDS

    return {"blocks": blocks, "targets": targets, "proxies": proxies, "scores": scores, "datasets": datasets,
            "samplers": samplers, "backends": backends}
