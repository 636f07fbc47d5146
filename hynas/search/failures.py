"""Why a candidate failed, in attributes every failed trial carries, and which failed trials a retry re-runs.

A failed trial stores ``fail_reason`` ("ExceptionClass: one-line message", what lines and
summaries show), ``fail_class``, ``fail_message`` and ``fail_phase``: where in the evaluation
it broke, one of :data:`PHASES`. The phase is read from the traceback (in this process; the
text a trial's child process sends back; a Ray task error's text): the first hynas frame
below the search machinery names it, so a bug in a block's ``forward`` is "train" when it
broke in training and "latency" when it broke while being timed. A child killed for its
time or memory cap reports nothing, so its phase is "unknown".
"""

from __future__ import annotations

import math
import re
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

PHASES = ("build", "cost", "latency", "train", "score", "unknown")
_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')
_EVALUATOR = {"check_limits": "cost", "_seeded_model": "build", "trained_values": "score"}  # functions in evaluate.py
_MODULES = (("build.py", "build"), ("blocks/", "build"), ("space/", "build"), ("models.py", "build"),
            ("cost.py", "cost"), ("latency/", "latency"), ("proxy/zero_cost.py", "score"),
            ("proxy/shape.py", "score"), ("proxy/int8.py", "score"), ("nb201.py", "score"), ("proxy/", "train"))
KILLED = ("TrialTimeout", "TrialOutOfMemory", "TrialCrashed")  # isolate.py: the child could not say where


def failure_attrs(exc: BaseException) -> dict[str, str]:
    """The user attrs of a trial that failed with ``exc``."""
    cls = type(exc).__name__
    message = " ".join(str(exc).split())[:300]
    return {"fail_reason": f"{cls}: {message}" if message else cls, "fail_class": cls, "fail_message": message,
            "fail_phase": phase_of(exc)}


def phase_of(exc: BaseException) -> str:
    if type(exc).__name__ in KILLED:
        return "unknown"
    frames = [(f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__)]
    text = getattr(exc, "child_traceback", None) or (str(exc) if "Traceback" in str(exc) else "")
    if text:  # the last traceback of the text: the exception itself, after any it was raised from
        frames += _FRAME.findall(text.split("Traceback (most recent call last):")[-1])
    for filename, func in frames:
        phase = _frame_phase(filename.replace("\\", "/"), func)
        if phase is not None:
            return phase
    return "score"  # inside the problem's own evaluation (e.g. a table lookup)


def _frame_phase(path: str, func: str) -> str | None:
    if "/hynas/" not in path:
        return None
    rel = path.rsplit("/hynas/", 1)[1]
    if rel == "search/problems/evaluate.py":
        return _EVALUATOR.get(func)
    if rel.startswith(("search/", "cli/", "tune.py", "registry.py")):
        return None
    return next((phase for prefix, phase in _MODULES if rel.startswith(prefix)), None)


def bad_values(values: Mapping[str, Any], objectives: Sequence[str], attrs: Mapping[str, Any]) -> dict[str, str] | None:
    """The failure attrs of an evaluation whose objective values are missing or not finite, else None.

    Optuna would fail such a trial itself, without a reason and uncounted, so a resume would
    evaluate the arch again; recorded here, it is a failure like any other."""
    bad = {o: values.get(o) for o in objectives if not _finite(values.get(o))}
    if not bad:
        return None
    first = next(iter(bad))
    phase = {"latency_ms": "latency", "params_m": "cost", "macs_g": "cost"}.get(
        first, "train" if first == "accuracy" and "train_seconds" in attrs else "score")
    text = ", ".join(f"{o} = {v!r}" for o, v in bad.items())
    return {"fail_reason": f"NonFiniteObjective: {text}", "fail_class": "NonFiniteObjective",
            "fail_message": text, "fail_phase": phase}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def retry_plan(trials: Sequence[Any], evaluated: Any) -> list[Any]:
    """The failed trials a ``--retry-failed`` session re-runs: per arch (hash), its last evaluated trial,
    where that one failed. ``evaluated``: the engine's test of what counts (interrupted trials are
    re-run by any resume already; rejected ones were never evaluated)."""
    last: dict[str, Any] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if evaluated(t) and "hash" in t.user_attrs:
            last[t.user_attrs["hash"]] = t
    return [t for t in last.values() if t.state.name == "FAIL" and t.params]
