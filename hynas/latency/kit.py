"""Profile kits: what to time on a device hynas does not run on, and one script that times it there.

``write_kit`` picks the units (most frequent first, as ``hynas profile`` does) and whole archs of a
space that fit a time budget on the device, exports each (and the reference network) for the
kit's runtime, and writes ``manifest.json`` (space hash, arch hashes, unit keys, timing protocol)
beside a copy of ``kit_runner.py``: a standalone script that needs only the runtime and numpy.
Its ``timings.json`` comes back to ``hynas profile --import`` (``hynas.latency.kit_import``).

Runtimes (``KIT_RUNTIMES``): ``onnxruntime`` (ONNX files, float weights left out and re-made on
the device) and ``litert`` (LiteRT / TensorFlow Lite flatbuffers converted here by
``litert-torch``, weights inside; timed there by ``ai-edge-litert``, or ``tflite-runtime`` on
boards that ship it). A model the LiteRT converter refuses is left out of the kit and named in
the manifest's ``skipped``.
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
MIN_FIT_ARCHS = 4  # the fewest timed whole archs a predictor is fitted from (kit_import)
UNIT_S, ARCH_S = 0.3, 1.5  # device seconds per unit / whole arch the runner spends (FAST / DEFAULT policies)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
KIT_RUNTIMES = {"onnxruntime": ".onnx", "litert": ".tflite"}  # runtime -> model file suffix


def check_kit_runtime(runtime: str) -> None:
    """Refuse (exit 2) a kit runtime hynas cannot write models for, or one whose converter is missing here."""
    if runtime not in KIT_RUNTIMES:
        raise UserError(f"--kit-runtime '{runtime}' is not one hynas writes kits for; allowed: "
                        f"{', '.join(KIT_RUNTIMES)}.")
    if runtime == "litert":
        import importlib.util

        if importlib.util.find_spec("litert_torch") is None:
            raise UserError("--kit-runtime litert converts each model with litert-torch, which is not installed "
                            "here: `pip install 'hynas[tflite]'` (or use --kit-runtime onnxruntime).")


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

    fields = tuple(tuple(f) for f in d.get("fields", ()))
    return Unit(**{**d, "knobs": tuple((str(k), v) for k, v in d["knobs"]), "fields": fields})


def plan_kit(space: Any, budget_s: float, seed: int) -> tuple[list[tuple[Any, list[Any]]], list[Any]]:
    """Whole archs (with their units) and further units (most frequent first) that fit ``budget_s`` there."""
    from hynas.latency.calibrate import calibration_archs
    from hynas.latency.features import unit_key
    from hynas.latency.profile import unit_census

    archs = calibration_archs([space], max(MIN_KIT_ARCHS, int(0.35 * budget_s / ARCH_S)), seed)
    need = {unit_key(u) for _, us in archs for u in us}
    spare = max(0, int(0.65 * budget_s / UNIT_S) - len(need))
    extra = [u for u in unit_census([space], 500, random.Random(seed)) if unit_key(u) not in need]
    return archs, extra[:spare]


def _export(model: Any, shape: tuple[int, ...], path: Path) -> dict[str, Any]:
    """Write the model's ONNX graph without its float weights; returns how the runner re-creates them.

    Latency does not depend on the weights' values, only on their shapes, so every float tensor of 4 KB or
    more becomes ONNX external data in ``<model>.weights``, which the runner fills on the device with
    normal noise of each tensor's own mean and std (no denormals, no NaN), then deletes. A kit of 224 px
    hybrids stays megabytes instead of gigabytes.
    """
    import numpy as np
    import onnx

    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.onnx_io import export_bytes

    m = onnx.load_from_string(export_bytes(fuse_for_inference(model.eval()), shape))
    name, offset, tensors = path.name + ".weights", 0, []
    for t in m.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT or len(t.raw_data) < 4096:
            continue
        arr = np.frombuffer(t.raw_data, np.float32)
        n = len(t.raw_data)
        tensors.append([offset, n, float(arr.mean()), float(arr.std())])
        for k, v in (("location", name), ("offset", str(offset)), ("length", str(n))):
            e = t.external_data.add()
            e.key, e.value = k, v
        t.data_location = onnx.TensorProto.EXTERNAL
        t.ClearField("raw_data")
        offset += n
    path.write_bytes(m.SerializeToString())
    return {"file": name, "bytes": offset, "tensors": tensors} if tensors else {}


def _export_tflite(model: Any, shape: tuple[int, ...], path: Path) -> dict[str, Any]:
    """Write the model as a LiteRT flatbuffer (weights inside: the format has no external data)."""
    from hynas.blocks.reparam import fuse_for_inference
    from hynas.latency.targets.tflite_cpu import tflite_bytes

    path.write_bytes(tflite_bytes(fuse_for_inference(model.eval()), shape))
    return {}


def export_model(model: Any, shape: tuple[int, ...], path: Path, runtime: str) -> dict[str, Any]:
    """``model`` written to ``path`` for ``runtime``; returns how the runner re-creates left-out weights."""
    return _export_tflite(model, shape, path) if runtime == "litert" else _export(model, shape, path)


class _Writer:
    """Exports models into the kit's ``models/`` and keeps the manifest rows and the bytes written.

    A model the runtime's converter refuses is not written; its id and reason go to ``skipped``
    (an arch whose own conversion fails is skipped whole, its units are still offered)."""

    def __init__(self, root: Path, runtime: str = "onnxruntime") -> None:
        self.root, self.bytes, self.units, self.archs, self.keys = root, 0, [], [], set()
        self.runtime, self.suffix, self.skipped = runtime, KIT_RUNTIMES[runtime], {}

    def _put(self, model: Any, shape: tuple[int, ...], name: str) -> dict[str, Any] | None:
        path = self.root / "models" / (name + self.suffix)
        try:
            weights = export_model(model, shape, path, self.runtime)
        except Exception as e:
            if self.runtime != "litert":
                raise
            path.unlink(missing_ok=True)
            self.skipped[name] = f"{type(e).__name__}: {str(e)[:300]}"
            return None
        self.bytes += path.stat().st_size
        return {"file": f"models/{path.name}", "weights": weights}

    def unit(self, u: Any) -> None:
        from hynas.latency.features import unit_key
        from hynas.latency.measure import unit_module

        if unit_key(u) in self.keys:
            return
        self.keys.add(unit_key(u))
        uid, shape = f"u{len(self.units) + len(self.skipped):04d}", u.shape(1)
        put = self._put(unit_module(u), shape, uid)
        if put is not None:
            self.units.append({"id": uid, "key": unit_key(u), "unit": unit_record(u), "shape": list(shape), **put})

    def arch(self, a: Any, units: list[Any]) -> None:
        from hynas.build import build_model

        shape = a.input_shape(1)
        put = self._put(build_model(a), shape, f"a-{a.hash}")
        if put is not None:
            self.archs.append({"id": f"a-{a.hash}", "hash": a.hash, "arch": a.to_dict(), "shape": list(shape), **put})
        for u in units:
            self.unit(u)


def check_kit_dir(kit: Path) -> None:
    if kit.exists() and (not kit.is_dir() or any(kit.iterdir())):
        raise UserError(f"--kit {kit} exists and is not an empty directory; give a new directory for the kit.")


def write_kit(
    kit: str | Path, target: str, space_name: str, budget_s: float = 900.0, seed: int = 0,
    threads: int = 1, max_bytes: float = 1e9, progress: Callable[[str], None] = lambda _: None,
    runtime: str = "onnxruntime",
) -> dict[str, Any]:
    """Write the kit into the new directory ``kit`` (models up to about ``max_bytes``); returns the manifest."""
    from hynas.latency.reference import REFERENCE_SHAPE, ReferenceNet, ReferenceNetEinsum
    from hynas.space import load_space

    check_kit_name(target)
    check_kit_runtime(runtime)
    space = load_space(space_name)
    kit = Path(kit)
    check_kit_dir(kit)
    archs, extra = plan_kit(space, budget_s, seed)
    tmp = kit.with_name(kit.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    suffix = KIT_RUNTIMES[runtime]
    # the reference in the spelling the runtime's converter gets right (hynas.latency.reference)
    ref_net = ReferenceNetEinsum() if runtime == "litert" else ReferenceNet()
    ref_weights = export_model(ref_net, REFERENCE_SHAPE, tmp / "models" / f"reference{suffix}", runtime)
    w = _Writer(tmp, runtime)
    for a, units in archs:  # whole archs take at most half the size budget once the minimum is written
        if len(w.archs) >= MIN_KIT_ARCHS and w.bytes > max_bytes / 2:
            break
        w.arch(a, units)
    for u in extra:
        if w.bytes > max_bytes:
            break
        w.unit(u)
    if len(w.archs) < MIN_FIT_ARCHS:
        shutil.rmtree(tmp, ignore_errors=True)
        reasons = "; ".join(f"{k}: {v}" for k, v in list(w.skipped.items())[:3])
        raise UserError(f"--kit-runtime {runtime}: only {len(w.archs)} whole archs of space '{space_name}' could "
                        f"be converted (at least {MIN_FIT_ARCHS} are needed to fit a predictor); {reasons}")
    skipped = f"; {len(w.skipped)} the {runtime} converter refused (listed in the manifest)" if w.skipped else ""
    progress(f"exported {len(w.units)} units and {len(w.archs)} whole archs ({w.bytes / 1e6:.0f} MB){skipped}")
    manifest = {
        "format": KIT_FORMAT, "version": KIT_VERSION, "target": {"name": target, "runtime": runtime,
        "precision": "fp32", "batch": 1, "threads": threads},
        "space": {"name": space_name, "file": space.file, "sha256": space_sha256(space)},
        "timing": {"units": asdict(FAST), "archs": asdict(DEFAULT)},
        "reference": {"file": f"models/reference{suffix}", "shape": list(REFERENCE_SHAPE), "weights": ref_weights},
        "units": w.units, "archs": w.archs, "skipped": w.skipped, "seed": seed, "budget_s": budget_s,
        "bytes": w.bytes,
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
