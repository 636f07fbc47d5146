"""``hynas profile --import KIT/timings.json``: check a kit's timings and fit the device's predictor.

Everything is checked before anything is written: the kit's manifest and model files, that
the timings were made by this kit (its manifest's hash), that the space the kit was made
for is unchanged, and every time (finite, positive, for an id of the kit). The predictor is
then fitted as ``hynas profile`` fits one (lookup table + trees, whole-arch calibration with
a held-out quarter), its target marked as made from a kit (it predicts only).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.latency.kit import (
    KIT_FORMAT,
    MANIFEST,
    MIN_FIT_ARCHS,
    manifest_sha256,
    space_sha256,
    unit_from_record,
)

TIME_FIELDS = ("median_ms", "p10_ms", "p90_ms", "reference_ms")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: {what} is missing.") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: {what} is not valid JSON (truncated or corrupt: {e}).") from None


def read_manifest(kit: Path) -> dict[str, Any]:
    """The kit's manifest, checked: format, every model file present, the space unchanged."""
    from hynas.space import load_space

    m = _read_json(kit / MANIFEST, "the kit manifest")
    if not isinstance(m, dict) or m.get("format") != KIT_FORMAT:
        raise UserError(f"{kit / MANIFEST}: not a hynas profile kit manifest (format {m.get('format')!r}).")
    missing = [e["file"] for e in [m["reference"], *m["units"], *m["archs"]] if not (kit / e["file"]).is_file()]
    if missing:
        raise UserError(f"kit {kit} is missing {len(missing)} model file(s), e.g. {', '.join(missing[:3])}; "
                        "re-create it with `hynas profile --kit`.")
    sp = m["space"]
    if space_sha256(load_space(sp["name"])) != sp["sha256"]:
        raise UserError(f"kit {kit} was made for another version of space '{sp['name']}' (sha256 "
                        f"{sp['sha256'][:12]}, the space here hashes differently); make a new kit for it.")
    return m


def _check_entry(where: str, e: Any) -> None:
    if not isinstance(e, dict):
        raise UserError(f"{where}: expected an object with {', '.join(TIME_FIELDS)}.")
    for f in TIME_FIELDS:
        v = e.get(f)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise UserError(f"{where}.{f} = {v!r}: every time must be a finite number of ms above 0.")


def read_timings(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The runner's timings, checked against the kit's manifest."""
    t = _read_json(path, "the timings file")
    kit = path.parent
    if not isinstance(t, dict) or t.get("format") != "hynas-kit-timings" or not isinstance(t.get("entries"), dict):
        raise UserError(f"{path}: not the timings of a hynas kit runner (format {t.get('format')!r}).")
    if t.get("kit_sha256") != manifest_sha256(kit):
        raise UserError(f"{path}: these timings were made by another kit (kit_sha256 {str(t.get('kit_sha256'))[:12]} "
                        f"is not {manifest_sha256(kit)[:12]} of {kit / MANIFEST}).")
    ids = {e["id"] for e in manifest["units"] + manifest["archs"]}
    unknown = sorted(set(t["entries"]) - ids)
    if unknown:
        raise UserError(f"{path}: {len(unknown)} entries name no model of this kit (e.g. {unknown[0]}); "
                        "wrong arch hashes or another kit's timings.")
    for k, e in t["entries"].items():
        _check_entry(f"{path}: entries.{k}", e)
    return t


def fit_from_kit(timings_path: str | Path) -> Any:
    """The ProfileReport-like result of fitting a predictor on a kit's timings (nothing written)."""
    from hynas.build import block_plan
    from hynas.latency.predictor import calibrate, fit_units
    from hynas.latency.profile import _holdout, nominal_reference
    from hynas.space.arch import Arch

    path = Path(timings_path)
    manifest = read_manifest(path.parent)
    t = read_timings(path, manifest)
    ent = t["entries"]
    units = [(unit_from_record(e["unit"]), ent[e["id"]]) for e in manifest["units"] if e["id"] in ent]
    archs = [(Arch.from_json(e["arch"]), ent[e["id"]]) for e in manifest["archs"] if e["id"] in ent]
    if len(archs) < MIN_FIT_ARCHS:
        raise UserError(f"{path}: only {len(archs)} whole archs were timed (at least {MIN_FIT_ARCHS} are needed "
                        "to fit).")
    nominal = nominal_reference([e["reference_ms"] for _, e in units + archs])
    tgt = {**manifest["target"], "device": "kit", "clock": t.get("clock", "wall"),
           "kit": {"manifest_sha256": t["kit_sha256"], "space": manifest["space"]}}
    dev = t.get("device", {})
    fp = {**{k: dev.get(k) for k in ("cpu_model", "cpu_count", "machine", "os", "python")},
          "device": dev.get("platform"), "runtime_versions": dict(t.get("runtime", {}))}
    pred = fit_units(tgt, fp, [(u, e["median_ms"] * nominal / e["reference_ms"]) for u, e in units])
    pred.reference_nominal_ms = nominal
    whole = [(a, block_plan(a), e["median_ms"] * nominal / e["reference_ms"]) for a, e in archs]
    heldout, base = _holdout(pred, whole)
    calibrate(pred, whole)
    pred.meta = {"spaces": [manifest["space"]["name"]], "units_measured": len(units), "archs_measured": len(archs),
                 "heldout_accuracy": heldout, "macs_baseline_heldout": base, "kit_failures": t.get("failures", {}),
                 "device_seconds": t.get("seconds"), "calibration_archs": [a.hash for a, _ in archs]}
    return pred
