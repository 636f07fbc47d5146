"""``predict_latency``: a LatencyResult from the target's predictor file, with a warning when the
file was measured on a different machine (CPU model, cores, runtime versions)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hynas.latency.predictor import load_predictor
from hynas.latency.result import LatencyResult, fingerprint_mismatch, machine_fingerprint
from hynas.latency.target import TARGETS, Target
from hynas.space.arch import Arch


def _target_spec(name: str) -> Target:
    """The target by name (``@bN`` allowed), not checked to run here: predicting needs no hardware."""
    base, _, suffix = name.partition("@b")
    t = TARGETS.get(base)
    return t.with_batch(int(suffix)) if suffix.isdigit() else t


@lru_cache(maxsize=32)
def _mismatch_warning(target_name: str, path: str, mtime_ns: int) -> tuple[str, ...]:
    pred, p = load_predictor(target_name)
    here = machine_fingerprint(_target_spec(target_name).runtime_versions())
    diffs = fingerprint_mismatch(pred.fingerprint, here)
    if not diffs:
        return ()
    text = (
        f"latency predictor {p} was measured on another machine ({'; '.join(diffs)}): predicted latencies "
        f"may not hold here. Measure this machine with `hynas profile --target {target_name} --space FILE` "
        f"(writes predictors/{target_name}.json), or time candidates instead (`hynas search --measure`)."
    )
    return (text,)


def predictor_warnings(target: str) -> tuple[str, ...]:
    """Warnings about using the target's predictor on this machine (empty when it matches)."""
    _, p = load_predictor(target)
    return _mismatch_warning(target, str(p), Path(p).stat().st_mtime_ns)


def predict_with_file(arch: Arch, target: str = "ort-cpu", *, resolution: int | None = None) -> LatencyResult:
    """Predicted latency (method="predicted"; p10 = p90 = median, repeats = 0)."""
    pred, _ = load_predictor(target)
    t = _target_spec(target)
    res = resolution or arch.input["resolution"]
    ms = pred.predict_ms(arch, res)
    return LatencyResult(
        median_ms=ms,
        p10_ms=ms,
        p90_ms=ms,
        repeats=0,
        target=t.name,
        batch=pred.batch,
        threads=int(pred.target.get("threads", t.threads)),
        precision=str(pred.target.get("precision", t.precision)),
        runtime=str(pred.target.get("runtime", t.runtime)),
        fingerprint=pred.fingerprint,
        method="predicted",
        resolution=res,
        nominal_ms=ms,
        clock=str(pred.target.get("clock", t.clock)),
        warnings=predictor_warnings(target),
    )


def latency_source(target: str, *, measure: bool = False, predict: bool = False) -> tuple[bool, list[str]]:
    """How a search gets each candidate's latency: ``(time it?, lines that say so and why)``.

    Default (neither flag): the target's predictor where a file for it exists, else timing;
    ``measure`` times every candidate; ``predict`` insists on the predictor (UserError, saying how
    to profile, when there is none).
    """
    from hynas.errors import UserError
    from hynas.latency.predictor import find_predictor

    if measure and predict:
        raise UserError("--measure and --predict exclude each other; give one of them, or neither "
                        "(the target's predictor where one exists, else timing).")
    if measure:
        return True, [f"latency: timed on {target} for every candidate (--measure)"]
    try:
        path = find_predictor(target)
    except UserError:
        if predict:
            raise
        return True, [f"latency: timed on {target} for every candidate (no predictor for it; "
                      f"`hynas profile --target {target} --space FILE` makes one)"]
    return False, [f"latency: predicted by {path} (--measure times every candidate instead)",
                   *predictor_warnings(target)]
