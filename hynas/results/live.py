"""What a running search shows: one line per finished candidate, for the terminal and ``RUN/search.log``.

The engine emits an event after each tell (``Search.event``); :func:`candidate_line` turns
it into ``trial 12  complete  3f9a1c2e04d1  acc 0.9120 · 1.873 ms · 14.2 s``, naming the
accuracy objective by what it is (``naswot`` for a zero-cost run, not "acc"). The
:class:`SearchLog` appends the same lines, with a header and the final summary, to the run
directory, whether or not anyone watches a terminal.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATUS_WORD = {"complete": "complete", "failed": "FAILED", "pruned": "pruned", "rejected": "rejected"}


def candidate_line(event: Mapping[str, Any], acc_name: str = "acc") -> str:
    """One finished candidate: number, outcome, arch hash, accuracy, latency, seconds, and why (failed/rejected)."""
    a, status = event.get("attrs") or {}, event["status"]
    m = metrics(event)
    parts = [f"{acc_name} {m['accuracy']:.4g}" if "accuracy" in m else f"{acc_name} -",
             f"{m['latency_ms']:.3f} ms" if "latency_ms" in m else "- ms"]
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


def summary_lines(s: Any) -> list[str]:
    """The end of a session: why it stopped, what was spent on what, and every distinct failure reason."""
    counts = (f"evaluated {s.evaluated} candidates in {s.elapsed_s:.0f} s this session: {s.complete} complete, "
              f"{s.failed} failed; {s.rejected} rejected by rules, {s.duplicates} duplicates skipped"
              + (f"; {s.recovered} interrupted trials from an earlier run re-queued" if s.recovered else "")
              + (f"; {s.screened_out} screened out by the cheap score" if s.screened_out else "")
              + (f"; {s.pruned} stopped early at a rung" if s.pruned else ""))
    lines = [f"stopped: {s.stop_reason}", counts]
    lines += [f"  failed {n}×: {reason}" for reason, n in sorted(s.reasons.items(), key=lambda kv: -kv[1])]
    return lines


class SearchLog:
    """Appends a session's lines to ``RUN/search.log`` (opened per line: a killed search loses nothing)."""

    def __init__(self, path: Path, acc_name: str = "acc") -> None:
        self.path, self.acc_name = path, acc_name

    def write(self, line: str) -> None:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"{stamp}  {line}\n")

    def event(self, event: Mapping[str, Any]) -> None:
        if event["status"] == "started":
            self.write(f"session started: {event['done']} of {event['budget']} candidates already evaluated")
        else:
            self.write(candidate_line(event, self.acc_name))
