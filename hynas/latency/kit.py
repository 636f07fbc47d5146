"""Profile kits: what to time on a device hynas does not run on, and one script that times it there.

``write_kit`` picks the units (most frequent first, as ``hynas profile`` does) and whole archs of a
space that fit a time budget on the device, exports each as ONNX (and the reference network),
and writes ``manifest.json`` (space hash, arch hashes, unit keys, timing protocol) beside a copy
of ``kit_runner.py``: a standalone script that needs only the runtime and numpy. Its
``timings.json`` comes back to ``hynas profile --import`` (``hynas.latency.kit_import``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.latency.timing import DEFAULT, FAST

KIT_FORMAT = "hynas-profile-kit"
KIT_VERSION = 1
RUNNER = "run_kit.py"
MANIFEST = "manifest.json"
MIN_KIT_ARCHS = 12  # 9 to fit the calibration, 3 to check it
UNIT_S, ARCH_S = 0.3, 1.5  # device seconds per unit / whole arch the runner spends (FAST / DEFAULT policies)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


def space_sha256(space: Any) -> str:
    return hashlib.sha256(space.raw.encode("utf-8")).hexdigest()


def check_kit_name(name: str) -> None:
    from hynas.latency.target import TARGETS

    if not NAME.match(name):
        raise UserError(f"--target '{name}' for a kit must be a plain name (letters, digits, '-', '_'; no '@').")
    if name in TARGETS:
        raise UserError(f"--target '{name}' is a registered target that hynas times itself; name the device "
                        f"(e.g. pixel7-ort, rpi5-ort) for a kit.")


def unit_record(u: Any) -> dict[str, Any]:
    d = asdict(u)
    d["knobs"] = [list(kv) for kv in u.knobs]
    return d


def unit_from_record(d: dict[str, Any]) -> Any:
    from hynas.build import Unit

    return Unit(**{**d, "knobs": tuple((str(k), v) for k, v in d["knobs"])})


def plan_kit(space: Any, budget_s: float, seed: int) -> tuple[list[Any], list[tuple[Any, list[Any]]]]:
    """Units (most frequent first) and whole archs to time, sized so the runner fits ``budget_s``."""
    from hynas.latency.calibrate import calibration_archs
    from hynas.latency.features import unit_key
    from hynas.latency.profile import unit_census

    n_archs = max(MIN_KIT_ARCHS, int(0.35 * budget_s / ARCH_S))
    archs = calibration_archs([space], n_archs, seed)
    need = {unit_key(u): u for _, us in archs for u in us}
    spare = max(0, int(0.65 * budget_s / UNIT_S) - len(need))
    for u in unit_census([space], 500, random.Random(seed)):
        if spare <= 0:
            break
        if unit_key(u) not in need:
            need[unit_key(u)] = u
            spare -= 1
    return list(need.values()), archs


def _export(model: Any, shape: tuple[int, ...], path: Path) -> None:
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.onnx_io import export_bytes

    path.write_bytes(export_bytes(fuse_for_inference(model.eval()), shape))


def check_kit_dir(kit: Path) -> None:
    if kit.exists() and (not kit.is_dir() or any(kit.iterdir())):
        raise UserError(f"--kit {kit} exists and is not an empty directory; give a new directory for the kit.")


def write_kit(
    kit: str | Path, target: str, space_name: str, budget_s: float = 900.0, seed: int = 0,
    threads: int = 1, progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Write the kit into the new directory ``kit``; returns the manifest."""
    from hynas.build import build_model
    from hynas.latency.features import unit_key
    from hynas.latency.measure import unit_module
    from hynas.latency.reference import REFERENCE_SHAPE, ReferenceNet
    from hynas.space import load_space

    check_kit_name(target)
    space = load_space(space_name)
    kit = Path(kit)
    check_kit_dir(kit)
    units, archs = plan_kit(space, budget_s, seed)
    tmp = kit.with_name(kit.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    _export(ReferenceNet(), REFERENCE_SHAPE, tmp / "models" / "reference.onnx")
    u_rows, a_rows = [], []
    for i, u in enumerate(units):
        shape = (1, u.in_ch, u.h, u.w)
        _export(unit_module(u), shape, tmp / "models" / f"u{i:04d}.onnx")
        u_rows.append({"id": f"u{i:04d}", "key": unit_key(u), "unit": unit_record(u), "shape": list(shape),
                       "file": f"models/u{i:04d}.onnx"})
    progress(f"exported {len(units)} units")
    for a, _ in archs:
        shape = (1, a.input["channels"], a.input["resolution"], a.input["resolution"])
        _export(build_model(a), shape, tmp / "models" / f"a-{a.hash}.onnx")
        a_rows.append({"id": f"a-{a.hash}", "hash": a.hash, "arch": a.to_dict(), "shape": list(shape),
                       "file": f"models/a-{a.hash}.onnx"})
    progress(f"exported {len(archs)} whole archs")
    manifest = {
        "format": KIT_FORMAT, "version": KIT_VERSION, "target": {"name": target, "runtime": "onnxruntime",
        "precision": "fp32", "batch": 1, "threads": threads},
        "space": {"name": space_name, "file": space.file, "sha256": space_sha256(space)},
        "timing": {"units": asdict(FAST), "archs": asdict(DEFAULT)},
        "reference": {"file": "models/reference.onnx", "shape": list(REFERENCE_SHAPE)},
        "units": u_rows, "archs": a_rows, "seed": seed, "budget_s": budget_s,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    shutil.copyfile(Path(__file__).with_name("kit_runner.py"), tmp / RUNNER)
    if kit.exists():
        kit.rmdir()
    os.replace(tmp, kit)
    return manifest


def manifest_sha256(kit: str | Path) -> str:
    return hashlib.sha256((Path(kit) / MANIFEST).read_bytes()).hexdigest()
