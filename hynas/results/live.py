"""What a running search shows: one line per finished candidate, for the terminal and ``RUN/search.log``.

The engine emits an event after each tell (``Search.event``); :func:`candidate_line` turns
it into ``trial 12  complete  3f9a1c2e04d1  acc 0.9120 · 1.873 ms · 14.2 s``, naming the
accuracy objective by what it is (``naswot`` for a zero-cost run, not "acc") and showing
every objective of the run, in the run's order after accuracy and latency (``... · 1.873 ms ·
shape_sensitivity 0.7412 · 14.2 s``; int8 accuracy as ``int8 0.9080 (drop +0.0040)``): a user who
asked for three objectives sees all three. The
:class:`SearchLog` appends the same lines, with a header and the final summary, to the run
directory, whether or not anyone watches a terminal.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STATUS_WORD = {"complete": "complete", "failed": "FAILED", "pruned": "pruned", "rejected": "rejected"}
UNITS = {"latency_ms": "ms", "params_m": "M params", "macs_g": "GMACs"}  # others: "name value"


def value_text(name: str, value: float | None, acc_name: str = "acc") -> str:
    """One objective as a line shows it: ``acc 0.912``, ``1.873 ms``, ``0.52 M params``, ``shape_sensitivity 0.74``."""
    if name == "accuracy":
        return f"{acc_name} {'-' if value is None else f'{value:.4g}'}"
    num = "-" if value is None else f"{value:.3f}" if name == "latency_ms" else f"{value:.4g}"
    if name == "accuracy_int8":
        return f"int8 {num}"
    unit = UNITS.get(name)
    return f"{num} {unit}" if unit else f"{name} {num}"


def shown_objectives(event: Mapping[str, Any]) -> list[str]:
    """Accuracy and latency first (as every line has them), then the run's other objectives in its order."""
    rest = [o for o in event.get("objectives") or () if o not in ("accuracy", "latency_ms")]
    return ["accuracy", "latency_ms", *rest]


def candidate_line(event: Mapping[str, Any], acc_name: str = "acc") -> str:
    """One finished candidate: number, outcome, arch hash, every objective, seconds, and why (failed/rejected)."""
    a, status = event.get("attrs") or {}, event["status"]
    m = metrics(event)
    shown = shown_objectives(event)
    parts = [value_text(o, m.get(o), acc_name) for o in shown]
    if isinstance(a.get("int8_drop"), (int, float)):  # accuracy_int8: fp32 minus int8, beside the int8 accuracy
        drop = f"int8 drop {a['int8_drop']:+.4f}"
        if "accuracy_int8" in shown:
            parts[shown.index("accuracy_int8")] += f" ({drop.removeprefix('int8 ')})"
        else:
            parts.append(drop)
    if event.get("seconds") is not None:
        parts.append(f"{event['seconds']:.1f} s")
    line = f"trial {event['trial']:>4}  {STATUS_WORD.get(status, status):<8}  {str(a.get('hash', '?'))[:12]:<12}  "
    line += " · ".join(parts)
    if status == "pruned" and "pruned_at_step" in a:
        line += f" · stopped at step {a['pruned_at_step']}"
    why = a.get("fail_reason") or a.get("rejected")
    if status == "failed" and a.get("fail_phase"):
        why = f"{why} (phase: {a['fail_phase']})"
    return line + (f" · {str(why)[:200]}" if why and status in ("failed", "rejected") else "")


def metrics(event: Mapping[str, Any]) -> dict[str, float]:
    """The objective values a line shows: a complete trial's values, a pruned one's accuracy where it stopped."""
    a = event.get("attrs") or {}
    if event.get("values") is not None:
        return dict(zip(event.get("objectives", ()), (float(v) for v in event["values"])))
    out: dict[str, float] = {k: float(v) for k, v in (a.get("pruned_values") or {}).items()}
    if "pruned_accuracy" in a:
        out["accuracy"] = float(a["pruned_accuracy"])
    return out


def best_text(objectives: Sequence[str], directions: Sequence[str], points: Sequence[Sequence[float]],
              acc_name: str = "acc") -> str:
    """Each objective's best value over ``points`` (each its own best, not one trial's), as the lines show them.

    ``points`` may be the running front only: an objective's best value always lies on the front.
    """
    if not points:
        return ""
    parts = []
    for name in shown_objectives({"objectives": objectives}):
        if name in objectives:
            j = list(objectives).index(name)
            pick = min if j < len(directions) and directions[j] == "minimize" else max
            parts.append(value_text(name, pick(p[j] for p in points), acc_name))
    return " · ".join(parts)


def summary_lines(s: Any, best: str = "") -> list[str]:
    """The end of a session: why it stopped, what was spent on what, the best of every objective
    (``best``: :func:`best_text` of the session's front, when the caller kept one) and every distinct failure reason."""
    counts = (f"evaluated {s.evaluated} candidates in {s.elapsed_s:.0f} s this session: {s.complete} complete, "
              f"{s.failed} failed; {s.rejected} rejected by rules, {s.duplicates} duplicates skipped"
              + (f"; {s.recovered} interrupted trials from an earlier run re-queued" if s.recovered else "")
              + (f"; {s.screened_out} screened out by the cheap score" if s.screened_out else "")
              + (f"; {s.pruned} stopped early at a rung" if s.pruned else ""))
    lines = [f"stopped: {s.stop_reason}", counts] + ([f"best of each objective: {best}"] if best else [])
    lines += [f"  failed {n}×: {reason}" for reason, n in sorted(s.reasons.items(), key=lambda kv: -kv[1])]
    return lines


class SearchLog:
    """Appends a session's lines to ``RUN/search.log`` (opened per line: a killed search loses nothing)."""

    def __init__(self, path: Path, acc_name: str = "acc") -> None:
        self.path, self.acc_name = path, acc_name
        self.points: list[list[float]] = []  # every complete trial's values this session, for best()
        self.objectives: list[str] = []
        self.directions: list[str] = []

    def best(self) -> str:
        """:func:`best_text` of this session's complete trials (for ``summary_lines(summary, log.best())``)."""
        return best_text(self.objectives, self.directions, self.points, self.acc_name)

    def write(self, line: str) -> None:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"{stamp}  {line}\n")

    def event(self, event: Mapping[str, Any]) -> None:
        if event["status"] == "started":
            self.write(f"session started: {event['done']} of {event['budget']} candidates already evaluated")
        else:
            self.write(candidate_line(event, self.acc_name))
        if event.get("values") is not None:
            self.points.append([float(v) for v in event["values"]])
            self.objectives, self.directions = list(event.get("objectives", [])), list(event.get("directions", []))
