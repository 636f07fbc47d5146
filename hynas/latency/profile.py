"""Profile a target on a machine: measure units and whole archs from spaces, fit a predictor, report accuracy.

Every time is rescaled to the machine's nominal speed with the reference network timed
alongside it (``hynas.latency.reference``): ``ms * nominal / reference_ms``.

Budget split: units first, most frequent first (the units a random arch of the space
executes, counted over thousands of torch-free samples), so the lookup table covers the
bulk of any arch early; then whole archs, whose missing units are measured on the way.
A quarter of the whole archs is held out: the calibration is fitted on the rest and the
held-out accuracy reported (with a MACs-only baseline fitted on the same archs), then
the calibration is refitted on all of them for the saved file.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hynas.errors import ArchError, UserError
from hynas.latency.features import unit_key
from hynas.latency.measure import measure_latency, measure_unit
from hynas.latency.predictor import Predictor, accuracy, calibrate, fit_units, input_key
from hynas.latency.result import machine_fingerprint
from hynas.latency.target import Target, resolve_target
from hynas.latency.timing import DEFAULT, FAST, TimingPolicy

Progress = Callable[[str], None]
MIN_ARCHS = 8  # whole archs always measured (the budget may run over for them): 6 to fit, 2 to check


@dataclass(frozen=True)
class ProfileConfig:
    target: str
    spaces: tuple[str, ...]
    time_budget_s: float = 900.0
    arch_share: float = 0.35  # of the budget kept for whole archs (calibration + held-out report)
    seed: int = 0
    census_archs: int = 2000  # torch-free samples per space to count unit frequencies
    unit_policy: TimingPolicy = FAST
    arch_policy: TimingPolicy = DEFAULT


@dataclass
class ProfileReport:
    predictor: Predictor
    units_measured: int
    archs_measured: int
    seconds: float
    heldout: dict[str, float]
    macs_baseline: dict[str, float]
    failures: list[str] = field(default_factory=list)
    whole: list[tuple[Any, float]] = field(default_factory=list)  # (arch, ms at nominal speed) measured


def _arch_units(arch: Any) -> list[Any] | None:
    from hynas.build import block_plan

    try:
        return block_plan(arch)
    except ArchError:
        return None


def unit_census(spaces: list[Any], n_per_space: int, rng: random.Random) -> list[Any]:
    """Distinct units of random archs of the spaces, most frequent first."""
    from hynas.space import sample

    counts: Counter[str] = Counter()
    first: dict[str, Any] = {}
    for sp in spaces:
        for _ in range(n_per_space):
            for u in _arch_units(sample(sp, rng)) or []:
                k = unit_key(u)
                counts[k] += 1
                first.setdefault(k, u)
    return [first[k] for k, _ in counts.most_common()]


def _measure_units(
    units: list[Any],
    target: Target,
    policy: TimingPolicy,
    lut: dict[str, tuple[Any, float, float]],
    deadline: float,
    failures: list[str],
) -> None:
    for u in units:
        k = unit_key(u)
        if k in lut:
            continue
        if time.perf_counter() > deadline:
            return
        try:
            t = measure_unit(u, target, policy)
            lut[k] = (u, t.median_ms, t.reference_ms or 1.0)
        except Exception as e:  # noqa: BLE001 - one unit that fails to export must not end profiling
            failures.append(f"unit {k}: {type(e).__name__}: {e}")


def _measure_archs(
    spaces: list[Any],
    cfg: ProfileConfig,
    target: Target,
    lut: dict,
    deadline: float,
    rng: random.Random,
    failures: list[str],
    progress: Progress,
) -> list[tuple[Any, list, float, float]]:
    from hynas.space import sample

    out: list[tuple[Any, list, float, float]] = []
    seen: set[str] = set()
    i = 0
    hard_stop = deadline + cfg.time_budget_s  # past the budget only to reach MIN_ARCHS
    while (
        time.perf_counter() < deadline or (len(out) < MIN_ARCHS and time.perf_counter() < hard_stop)
    ) and i < 50 * (len(out) + 10):
        sp = spaces[i % len(spaces)]
        i += 1
        arch = sample(sp, rng)
        units = _arch_units(arch)
        if units is None or arch.hash in seen:
            continue
        seen.add(arch.hash)
        _measure_units(units, target, cfg.unit_policy, lut, float("inf"), failures)
        if not all(unit_key(u) in lut for u in units):
            continue
        try:
            r = measure_latency(arch, target.name, policy=cfg.arch_policy)
        except Exception as e:  # noqa: BLE001
            failures.append(f"arch {arch.hash}: {type(e).__name__}: {e}")
            continue
        out.append((arch, units, r.median_ms, r.reference_ms or 1.0))
        if len(out) % 10 == 0:
            progress(f"  {len(out)} whole archs measured")
    return out


def macs_baseline(fit: list[tuple[float, float]], test: list[tuple[float, float]]) -> dict[str, float]:
    """Latency = k * MACs, k fitted on ``fit`` (macs, ms) pairs in relative error, scored on ``test``."""
    k = sum(m / y for m, y in fit) / max(sum((m / y) ** 2 for m, y in fit), 1e-30)
    return accuracy([k * m for m, _ in test], [y for _, y in test])


def profile(cfg: ProfileConfig, progress: Progress = lambda _: None) -> ProfileReport:
    """Measure, fit and evaluate a predictor for ``cfg.target`` on the spaces, within the time budget."""
    from hynas.space import load_space

    t0 = time.perf_counter()
    target = resolve_target(cfg.target)
    refusal = getattr(target, "measure_refusal", None)  # a kit-made target: its device is elsewhere
    if refusal:
        raise UserError(refusal())
    spaces = [load_space(s) for s in cfg.spaces]
    rng = random.Random(cfg.seed)
    census = unit_census(spaces, cfg.census_archs, rng)
    progress(f"{len(census)} distinct units in {cfg.census_archs} sampled archs per space")
    lut: dict[str, tuple[Any, float, float]] = {}  # key -> (unit, median_ms, reference_ms)
    failures: list[str] = []
    _measure_units(
        census, target, cfg.unit_policy, lut, t0 + cfg.time_budget_s * (1 - cfg.arch_share), failures
    )
    progress(f"{len(lut)} units measured in {time.perf_counter() - t0:.0f} s")
    archs = _measure_archs(spaces, cfg, target, lut, t0 + cfg.time_budget_s, rng, failures, progress)
    if len(archs) < 4:  # only when archs keep failing or the space yields no buildable ones
        raise UserError(
            f"only {len(archs)} whole archs were measured within the time budget; give more time "
            f"(--time-budget) to fit and check the calibration."
        )
    nominal = nominal_reference([r for *_, r in lut.values()] + [r for *_, r in archs])
    units_ms = [(u, ms * nominal / ref) for u, ms, ref in lut.values()]
    whole = [(a, us, ms * nominal / ref) for a, us, ms, ref in archs]
    pred = fit_units(target.describe(), machine_fingerprint(target.runtime_versions()), units_ms)
    pred.reference_nominal_ms = nominal
    heldout, base = _holdout(pred, whole)
    calibrate(pred, whole)
    secs = time.perf_counter() - t0
    pred.meta = {
        "spaces": list(cfg.spaces),
        "units_measured": len(lut),
        "archs_measured": len(archs),
        "profile_seconds": round(secs, 1),
        "heldout_accuracy": heldout,
        "macs_baseline_heldout": base,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": cfg.seed,
        "calibration_archs": [a.hash for a, _, _ in whole],
    }
    return ProfileReport(
        pred, len(lut), len(archs), secs, heldout, base, failures, [(a, ms) for a, _, ms in whole]
    )


def nominal_reference(refs_ms: list[float]) -> float:
    """The machine's nominal speed: the 10th percentile of the reference times seen while profiling."""
    s = sorted(refs_ms)
    return s[int(0.1 * (len(s) - 1))]


def _holdout(pred: Predictor, whole: list[tuple[Any, list, float]]) -> tuple[dict, dict]:
    """Fit the calibration on 3/4 of the archs, score it (and the MACs-only baseline) on the other 1/4."""
    n_test = max(1, len(whole) // 4)
    fit, test = whole[n_test:], whole[:n_test]
    calibrate(pred, fit)
    heldout = accuracy(
        [pred.predict_units_ms(u, input_key(a)) for a, u, _ in test], [ms for _, _, ms in test]
    )
    macs = {a.hash: float(sum(u.macs() for u in us)) for a, us, _ in whole}
    base = macs_baseline([(macs[a.hash], ms) for a, _, ms in fit], [(macs[a.hash], ms) for a, _, ms in test])
    return heldout, base
