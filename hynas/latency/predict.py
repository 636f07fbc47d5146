"""``predict_latency``: a LatencyResult from the target's predictor file, with a warning when the
file was measured on a different machine (CPU model, cores, runtime versions)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hynas.latency.predictor import Predictor, _load_cached, load_predictor
from hynas.latency.result import LatencyResult, fingerprint_mismatch, machine_fingerprint
from hynas.latency.target import Target, lookup_target
from hynas.space.arch import Arch


def _target_spec(name: str) -> Target:
    """The target by name (``@tN``/``@bN`` allowed), not checked to run here: predicting needs no hardware."""
    return lookup_target(name)


@lru_cache(maxsize=32)
def _mismatch_warning(target_name: str, path: str, mtime_ns: int) -> tuple[str, ...]:
    pred, p = load_predictor_file(path), path
    diffs = foreign_differences(target_name, pred)
    if not diffs:
        return ()
    text = (
        f"latency predictor {p} was measured on another machine ({'; '.join(diffs)}): predicted latencies "
        f"may not hold here. Calibrate it to this machine with `hynas calibrate --target {target_name}` "
        f"(about a minute; a search does it unless --no-calibrate), profile this machine with "
        f"`hynas profile --target {target_name} --space FILE`, or time candidates instead (`hynas search --measure`)."
    )
    return (text,)


def foreign_differences(target_name: str, pred: Predictor) -> list[str]:
    """How this machine differs from the one the predictor was measured on (empty when it matches, and for a
    kit-made target, whose predictor is by definition of another device)."""
    from hynas.latency.targets.kit import KitTarget

    t = _target_spec(target_name)
    if isinstance(t, KitTarget):
        return []
    return fingerprint_mismatch(pred.fingerprint, machine_fingerprint(t.runtime_versions()))


def predictor_warnings(target: str, path: str | Path | None = None) -> tuple[str, ...]:
    """Warnings about using the target's predictor (or the file ``path``) on this machine (empty when it matches)."""
    p = Path(path) if path else load_predictor(target)[1]
    return _mismatch_warning(target, str(p), p.stat().st_mtime_ns)


def load_predictor_file(path: str | Path) -> Predictor:
    p = Path(path)
    return _load_cached(str(p), p.stat().st_mtime_ns)


def predictor_for(target: str, run_dir: str | Path | None = None) -> tuple[Predictor, Path]:
    """The run's calibrated predictor for the target when the run has one, else the target's file."""
    if run_dir is not None:
        p = run_predictor_path(run_dir, target)
        if p.is_file():
            return load_predictor_file(p), p
    return load_predictor(target)


def predict_with_file(
    arch: Arch, target: str = "ort-cpu", *, resolution: int | None = None, run_dir: str | Path | None = None
) -> LatencyResult:
    """Predicted latency (method="predicted"; p10 = p90 = median, repeats = 0).

    With ``run_dir``, the run's calibrated predictor (``RUN/predictor-<target>.json``) is used where it exists.
    """
    pred, path = predictor_for(target, run_dir)
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
        warnings=predictor_warnings(target, path),
    )


from hynas.latency.source import LatencySource, latency_source, run_predictor_path

__all__ = ["LatencySource", "latency_source", "predict_with_file", "predictor_warnings", "run_predictor_path"]
