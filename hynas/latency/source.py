"""How a search gets each candidate's latency: timed, predicted, or predicted after calibrating here.

``latency_source`` decides once, before the search writes anything, and says so in the lines
the search prints first. A predictor measured on another machine (fingerprint or runtime
versions differ) is calibrated on arrival (``hynas.latency.calibrate``): K archs of the
search's space timed here, the adapted predictor stored in the run directory
(``RUN/predictor-<target>.json``) and used for every candidate; a resumed run re-uses that
file and never recalibrates mid-run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hynas.errors import UserError


@dataclass
class LatencySource:
    """The decision: ``timed`` or predicted by ``predictor`` (a file), the lines to print, and a record for run.json.

    Unpacks and indexes as the pair ``(timed, lines)``.
    """

    timed: bool
    lines: list[str]
    predictor: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.timed, self.lines))

    def __getitem__(self, i: int) -> Any:
        return (self.timed, self.lines)[i]


def run_predictor_path(run_dir: str | Path, target: str) -> Path:
    return Path(run_dir) / f"predictor-{target}.json"


def _timed(target: str, why: str) -> LatencySource:
    return LatencySource(True, [f"latency: timed on {target} for every candidate ({why})"], None,
                         {"method": "measured", "why": why})


def _reused(path: Path) -> LatencySource:
    from hynas.latency.predictor import Predictor

    cal = Predictor.load(path).meta.get("calibration", {})
    how = (f"calibrated on {cal.get('k')} archs here ({cal.get('seconds'):.0f} s) from {cal.get('source')}"
           if cal else "copied into this run")
    return LatencySource(False, [f"latency: predicted by {path}, {how}; re-used on resume, not recalibrated"],
                         path, {"method": "predicted", "predictor": str(path), "calibration": cal, "resumed": True})


def latency_source(
    target: str,
    *,
    measure: bool = False,
    predict: bool = False,
    calibrate: bool = True,
    run_dir: str | Path | None = None,
    space: str | list[str] | None = None,
    archs: int | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> LatencySource:
    """Time every candidate, or predict with the target's file, calibrated to this machine where it is foreign.

    Default (neither ``measure`` nor ``predict``): the target's predictor where a file exists, else timing;
    ``predict`` insists on a predictor (UserError saying how to profile). A foreign predictor is calibrated
    on ``archs`` archs of ``space`` (default: the spaces it was profiled on) when ``calibrate`` and a
    ``run_dir`` to store it in are given; otherwise it is used as it is, with the warning saying so.
    """
    from hynas.latency.predictor import find_predictor
    from hynas.latency.target import lookup_target
    from hynas.latency.targets.kit import KitTarget

    if measure and predict:
        raise UserError("--measure and --predict exclude each other; give one of them, or neither "
                        "(the target's predictor where one exists, else timing).")
    spec = lookup_target(target)
    if measure:
        if isinstance(spec, KitTarget):
            raise UserError(spec.measure_refusal())
        return _timed(target, "--measure")
    if run_dir is not None and run_predictor_path(run_dir, target).is_file():
        return _reused(run_predictor_path(run_dir, target))
    try:
        path = find_predictor(target)
    except UserError:
        if predict:
            raise
        return _timed(target, f"no predictor for it; `hynas profile --target {target} --space FILE` makes one")
    return _predicted(target, path, calibrate, run_dir, space, archs, progress)


def _predicted(
    target: str,
    path: Path,
    calibrate: bool,
    run_dir: str | Path | None,
    space: str | list[str] | None,
    archs: int | None,
    progress: Callable[[str], None],
) -> LatencySource:
    from hynas.latency.calibrate import DEFAULT_ARCHS, calibrate_here
    from hynas.latency.predict import foreign_differences, load_predictor_file, predictor_warnings
    from hynas.latency.target import lookup_target
    from hynas.latency.targets.kit import KitTarget

    pred = load_predictor_file(path)
    diffs = foreign_differences(target, pred)
    rec: dict[str, Any] = {"method": "predicted", "predictor": str(path)}
    spec = lookup_target(target)
    if isinstance(spec, KitTarget):
        line = (f"latency: predicted by {path}, fitted from a profile kit run on {spec.device_info or 'its device'} "
                "(a kit target predicts only; it is not calibrated here)")
        return LatencySource(False, [line], path, {**rec, "kit": True})
    if not diffs:
        line = f"latency: predicted by {path}, measured on this machine (--measure times every candidate instead)"
        return LatencySource(False, [line], path, rec)
    why_not = ("--no-calibrate" if not calibrate else "no run directory to keep the calibration in"
               if run_dir is None else spec.unavailable())
    if why_not:
        return LatencySource(False, [f"latency: predicted by {path}, not calibrated ({why_not})",
                                     *predictor_warnings(target, path)], path,
                             {**rec, "calibrated": False, "why_not": why_not, "differences": diffs})
    spaces = [space] if isinstance(space, str) else list(space or pred.meta.get("spaces") or ["default"])
    progress(f"latency: {path} was measured on another machine ({'; '.join(diffs)}); calibrating here")
    adapted = calibrate_here(pred, path, target, spaces, archs or DEFAULT_ARCHS, progress=progress)
    out = adapted.save(run_predictor_path(run_dir, target))  # type: ignore[arg-type]
    cal = adapted.meta["calibration"]
    line = (f"latency: predicted, calibrated on {cal['k']} archs here ({cal['seconds']:.0f} s): {path} adapted "
            f"to this machine ({cal['fit']['method']} fit, leave-one-out RMSE "
            f"{min(cal['fit']['loo_rmse_pct'].values(), default=float('nan')):.1f}%), stored in {out}")
    return LatencySource(False, [line], out, {**rec, "predictor": str(out), "calibrated": True,
                                              "calibration": cal, "differences": diffs})
