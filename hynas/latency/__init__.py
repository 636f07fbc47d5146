"""Latency on hardware targets: measured (``measure_latency``) or predicted (``predict_latency``).

Targets (runtime, device, precision, batch, threads) are registered in ``TARGETS``;
``ort-cpu@b32`` names a target at a throughput batch. Predictors are portable JSON files
``predictors/<target>.json`` fitted by ``hynas profile``.
"""

from __future__ import annotations

from hynas.latency.measure import measure_latency, measure_unit, unit_module
from hynas.latency.result import LatencyResult, fingerprint_mismatch, machine_fingerprint
from hynas.latency.target import TARGETS, Target, resolve_target
from hynas.latency.timing import TimingPolicy


def predict_latency(arch, target: str = "ort-cpu", *, resolution: int | None = None, run_dir=None):
    """Latency predicted from the target's measured predictor file (method="predicted").

    With ``run_dir``, the run's calibrated predictor (``RUN/predictor-<target>.json``) where it has one.
    ``warnings`` says when the file was measured on another machine and how to calibrate or profile this one.

    Raises UserError saying how to profile when no predictor exists for the target.
    """
    from hynas.latency.predict import predict_with_file

    return predict_with_file(arch, target, resolution=resolution, run_dir=run_dir)


__all__ = [
    "TARGETS",
    "LatencyResult",
    "Target",
    "TimingPolicy",
    "fingerprint_mismatch",
    "machine_fingerprint",
    "measure_latency",
    "measure_unit",
    "predict_latency",
    "resolve_target",
    "unit_module",
]
