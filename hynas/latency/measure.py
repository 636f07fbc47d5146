"""Measure the latency of a whole arch, or of one executed unit, on a target.

A unit (``hynas.build.Unit``) is measured as the module the network runs at that place,
built by the block contract of its role, at its input shape: the same decomposition the
predictor sums over.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hynas.latency.result import LatencyResult, machine_fingerprint
from hynas.latency.target import Target, resolve_target
from hynas.latency.timing import DEFAULT, Timing, TimingPolicy, time_callable
from hynas.space.arch import Arch


def unit_module(unit: Any) -> nn.Module:
    """The module of one executed unit, built by its role's constructor contract (see blocks/base.py)."""
    from hynas.blocks import block_class

    cls = block_class(unit.type)
    kw = unit.build_kwargs() if hasattr(unit, "build_kwargs") else unit.knob_dict()
    if unit.role == "body":
        return cls(unit.in_ch, unit.out_ch, unit.stride, **kw)
    return cls(unit.in_ch, unit.out_ch, **kw)


def time_module(
    model: nn.Module, shape: tuple[int, ...], target: Target, policy: TimingPolicy = DEFAULT
) -> Timing:
    """Median/p10/p90 of ``model`` at input ``shape`` on ``target``, with the reference network interleaved.

    The reference time tells whether the machine ran slow during this measurement, so the
    latency can be rescaled to the machine's nominal speed (``hynas.latency.reference``).
    The model is timed as deployed: re-parameterisable branches fused first
    (``hynas.blocks.reparam.fuse_for_inference``), as ``hynas export`` users run it.
    """
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.reference import reference_run

    model = fuse_for_inference(model)
    return time_callable(target.prepare(model, shape), policy, target.clock, reference_run(target))


def _result(t: Timing, target: Target, resolution: int) -> LatencyResult:
    return LatencyResult(
        median_ms=t.median_ms,
        p10_ms=t.p10_ms,
        p90_ms=t.p90_ms,
        repeats=t.repeats,
        target=target.name,
        batch=target.batch,
        threads=target.threads,
        precision=target.precision,
        runtime=target.runtime,
        fingerprint=machine_fingerprint(target.runtime_versions()),
        method="measured",
        resolution=resolution,
        clock=t.clock,
        reference_ms=t.reference_ms,
        nominal_ms=_nominal(t, target),
    )


def _nominal(t: Timing, target: Target) -> float | None:
    """The median at the nominal speed stored in the target's predictor, if one exists for this machine."""
    from hynas.errors import UserError
    from hynas.latency.predict import predictor_warnings
    from hynas.latency.predictor import load_predictor

    try:
        pred, _ = load_predictor(target.name)
        if predictor_warnings(target.name) or not pred.reference_nominal_ms or not t.reference_ms:
            return None
    except UserError:
        return None
    return pred.at_nominal_speed(t.median_ms, t.reference_ms)


def measure_latency(
    arch: Arch,
    target: str = "ort-cpu",
    *,
    resolution: int | None = None,
    batch: int | None = None,
    policy: TimingPolicy = DEFAULT,
) -> LatencyResult:
    """Build the arch and time it on the target (warm-up, adaptive repeats, spread check)."""
    from hynas.build import build_model

    t = resolve_target(target, batch)
    res = resolution or arch.input["resolution"]
    model = build_model(arch, res)
    shape = arch.input_shape(t.batch, res)
    return _result(time_module(model, shape, t, policy), t, res)


def measure_unit(unit: Any, target: Target, policy: TimingPolicy = DEFAULT) -> Timing:
    """Time one executed unit at its input shape and the target's batch (with the reference time)."""
    return time_module(unit_module(unit), unit.shape(target.batch), target, policy)
