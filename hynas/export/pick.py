"""Choose a trial from a run: the knee of the front, the fastest, the most accurate, or by number."""

from __future__ import annotations

from hynas.errors import UserError
from hynas.results.pareto import knee_index
from hynas.results.trials import Run, TrialRecord

PICKS = ("knee", "fastest", "most-accurate", "trial:N")


def pick_trial(run: Run, pick: str) -> TrialRecord:
    done = [t for t in run.complete() if t.arch is not None]
    if not done:
        raise UserError(f"{run.path}: no completed trial to export yet.")
    if pick.startswith("trial:"):
        try:
            n = int(pick.split(":", 1)[1])
        except ValueError:
            raise UserError(f"--pick '{pick}': trial number must be an integer.") from None
        for t in done:
            if t.number == n:
                return t
        raise UserError(f"--pick '{pick}': no completed trial {n} in {run.path}.",)
    front = run.front(done)
    if not front:
        raise UserError(f"{run.path}: every completed trial violates the run's constraints "
                        f"({', '.join(run.meta['config'].get('constraints', []))}); pick one with --pick trial:N.")
    if pick == "fastest":
        key = "latency_ms" if "latency_ms" in run.objectives else run.objectives[1]
        return min(front, key=lambda t: (t.values[key], -t.values["accuracy"]))
    if pick == "most-accurate":
        return max(front, key=lambda t: t.values["accuracy"])
    if pick == "knee":
        fpts = [[t.values[o] for o in run.objectives] for t in front]
        return front[knee_index(fpts, run.directions)]
    raise UserError(f"--pick '{pick}' is not known. Allowed: {', '.join(PICKS)}.")
