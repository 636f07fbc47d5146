"""How a unit is described to the predictor: a lookup key and a numeric feature vector.

The key names everything that changes a unit's executed kernels (role, type, channels,
stride, input map, knobs) and nothing else (not its stage index), so the same block at
the same shape is measured once and looked up everywhere it occurs. The features are
registry-agnostic: shape numbers, the unit's analytic MACs, and its knobs (numbers as
they are, booleans as 0/1, strings one-hot), so a block added tomorrow is described
without code here changing.
"""

from __future__ import annotations

import json
import math
from typing import Any

BASE_FEATURES = (
    "role_stem",
    "role_downsample",
    "role_body",
    "role_head",
    "in_ch",
    "out_ch",
    "stride",
    "h",
    "w",
    "log_macs",
    "log_in_elems",
    "log_out_elems",
    "batch",
)


def unit_key(unit: Any) -> str:
    """Stable text key of a unit's executed configuration (stage excluded)."""
    knobs = json.dumps(dict(unit.knobs), sort_keys=True, separators=(",", ":"))
    shape = f"{unit.h}x{unit.w}" if getattr(unit, "dims", 2) == 2 else unit.map_text()
    enc = f"|stem{unit.stem_ch}" if getattr(unit, "stem_ch", 0) else ""
    return f"{unit.role}|{unit.type}|{unit.in_ch}>{unit.out_ch}|s{unit.stride}|{shape}|{knobs}{enc}"


def knob_features(unit: Any) -> dict[str, float]:
    """Knobs as named numbers: ``type.knob`` for numbers/booleans, ``type.knob=value`` one-hot for strings."""
    out: dict[str, float] = {f"type={unit.type}": 1.0}
    for k, v in unit.knobs:
        if isinstance(v, (bool, int, float)):
            out[f"{unit.type}.{k}"] = float(v)
        else:
            out[f"{unit.type}.{k}={v}"] = 1.0
    return out


def unit_features(unit: Any, batch: int = 1) -> dict[str, float]:
    """All features of a unit by name (missing names read as 0 when vectorized)."""
    out_hw = unit.positions(unit.stride) if hasattr(unit, "positions") else (unit.h // unit.stride) * (unit.w // unit.stride)
    in_hw = unit.positions() if hasattr(unit, "positions") else unit.h * unit.w
    f = {
        f"role_{unit.role}": 1.0,
        "in_ch": float(unit.in_ch),
        "out_ch": float(unit.out_ch),
        "stride": float(unit.stride),
        "h": float(unit.h),
        "w": float(unit.w),
        "log_macs": math.log1p(float(unit.macs()) * batch),
        "log_in_elems": math.log1p(batch * unit.in_ch * in_hw),
        "log_out_elems": math.log1p(batch * unit.out_ch * out_hw),
        "batch": float(batch),
    }
    f.update(knob_features(unit))
    return f


def feature_names(rows: list[dict[str, float]]) -> list[str]:
    """Base features first, then every other name seen, sorted (the column order stored in the file)."""
    extra = sorted({k for r in rows for k in r} - set(BASE_FEATURES))
    return list(BASE_FEATURES) + extra


def vectorize(row: dict[str, float], names: list[str]) -> list[float]:
    return [row.get(n, 0.0) for n in names]
