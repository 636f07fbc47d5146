"""Read a run's trials back as plain records (whatever backend wrote them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hynas.search.storage.rundir import open_study, read_meta
from hynas.space.arch import Arch


@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE, FAIL, PRUNED, RUNNING
    values: dict[str, float]
    arch: Arch | None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """False when the run's --constraint rules were violated (recorded by the search); True otherwise."""
        return bool(self.attrs.get("feasible", True))

    @property
    def kind(self) -> str:
        """What became of the trial, in words a user acts on.

        complete | infeasible (complete, violates a constraint) | pruned (training stopped at a
        rung) | screened out (lost the cheap pre-training screen) | rejected | duplicate | failed |
        interrupted (its process was killed; a resume evaluates the arch again) | running.
        """
        a = self.attrs
        if self.state == "COMPLETE":
            return "complete" if self.feasible else "infeasible"
        if self.state == "PRUNED":
            for key, name in (("pruned_at_step", "pruned"), ("screened_out", "screened out"),
                              ("rejected", "rejected"), ("duplicate_of", "duplicate")):
                if key in a:
                    return name
            return "pruned"
        if self.state == "FAIL":
            if "rejected" in a:
                return "rejected"
            interrupted = a.get("outcome") == "interrupted" or str(a.get("fail_reason", "")).startswith("interrupted")
            return "interrupted" if interrupted else "failed"  # interrupted: a killed run's trial, re-run on resume
        return self.state.lower()

    def outcome(self) -> str:
        """``kind`` with its detail: the violated constraint, the rung, the cheap screen score."""
        a, kind = self.attrs, self.kind
        if kind == "infeasible":
            bad = [f"{c} (over by {v:.3g})" for c, v in (a.get("constraints") or {}).items() if v > 0]
            return "infeasible: violates " + ", ".join(bad or ["a constraint"])
        if kind == "complete" and a.get("constraints"):
            return "complete, feasible"
        if kind == "pruned" and "pruned_at_step" in a:
            return f"pruned at step {a['pruned_at_step']} (accuracy {float(a.get('pruned_accuracy', 0)):.3f} there)"
        if kind == "screened out":
            sc = a.get("screen") or {}
            score = f", {sc['proxy']} {sc['score']:.3g}" if isinstance(sc.get("score"), (int, float)) else ""
            return f"screened out for trial {a['screened_out']}{score}"
        if kind in ("failed", "rejected", "duplicate"):
            return f"{kind}: {self.reason}" if self.reason and kind != "duplicate" else self.reason or kind
        return kind

    @property
    def reason(self) -> str | None:
        return self.attrs.get("fail_reason") or self.attrs.get("rejected") or (
            f"duplicate of trial {self.attrs['duplicate_of']}" if "duplicate_of" in self.attrs else None)


@dataclass
class Run:
    path: Path
    meta: dict[str, Any]
    trials: list[TrialRecord]
    skipped: dict[str, list[int]] = field(default_factory=dict)  # why -> numbers of stored trials left out

    def notes(self) -> list[str]:
        """One line per kind of stored trial left out by :func:`load_run`, with the count and the numbers."""
        out = []
        for why, numbers in self.skipped.items():
            shown = ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
            out.append(f"note: skipped {len(numbers)} stored trial{'s' if len(numbers) > 1 else ''} {why}: {shown}")
        return out

    def failures(self) -> list[tuple[str, str, int, str]]:
        """Failed trials grouped by (phase, exception class): (phase, class, count, one example reason),
        most frequent first."""
        groups: dict[tuple[str, str], list[str]] = {}
        for t in self.trials:
            if t.kind == "failed":
                reason = str(t.reason or "no reason recorded")
                cls = str(t.attrs.get("fail_class") or reason.split(":")[0])
                groups.setdefault((str(t.attrs.get("fail_phase") or "?"), cls), []).append(reason)
        return sorted(((p, c, len(r), r[0]) for (p, c), r in groups.items()), key=lambda g: (-g[2], g[0], g[1]))

    @property
    def objectives(self) -> list[str]:
        return list(self.meta["config"]["objectives"])

    @property
    def directions(self) -> list[str]:
        from hynas.search.config import OBJECTIVES

        return [OBJECTIVES[o] for o in self.objectives]

    def complete(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "COMPLETE"]

    def front(self, trials: list[TrialRecord] | None = None) -> list[TrialRecord]:
        """The Pareto-optimal trials among the feasible completed ones (of ``trials``, default all).

        A trial that violates a --constraint never enters the front, however good its objectives
        (Optuna's constrained NSGA-II ranks it behind every feasible trial likewise).
        """
        from hynas.results.pareto import pareto_mask

        ok = [t for t in (self.complete() if trials is None else trials) if t.state == "COMPLETE" and t.feasible]
        if not ok:
            return []
        mask = pareto_mask([[t.values[o] for o in self.objectives] for t in ok], self.directions)
        return [t for t, m in zip(ok, mask) if m]


def load_run(run_dir: str | Path) -> Run:
    """A run's trials as records. Rows no reader can use (a COMPLETE trial without a finite value for every
    objective, or whose arch is not an arch: written by another tool, or edited) are left out and counted in
    ``Run.skipped``; :meth:`Run.notes` words them for the user."""
    from hynas.search.storage.rows import read_trials, valid_values

    meta = read_meta(run_dir)
    study = open_study(meta)
    objectives = meta["config"]["objectives"]
    run = Run(Path(run_dir), meta, [])
    for t in read_trials(study, str(Path(run_dir) / "study")):
        arch = _arch(t.user_attrs.get("arch"))
        if t.state == "COMPLETE" and not valid_values(t.values, len(objectives)):
            run.skipped.setdefault(SKIP_VALUES, []).append(t.number)
            continue
        if t.state == "COMPLETE" and arch is None and "arch" in t.user_attrs:
            run.skipped.setdefault(SKIP_ARCH, []).append(t.number)
            continue
        values = dict(zip(objectives, (float(v) for v in t.values))) if t.state == "COMPLETE" and t.values else {}
        run.trials.append(TrialRecord(t.number, t.state, values, arch, t.user_attrs))
    return run


SKIP_VALUES = "complete but without a finite value for every objective (NULL, missing or NaN in the study)"
SKIP_ARCH = "complete but without a readable arch"


def _arch(d: Any) -> Arch | None:
    """The stored arch, or None when the attribute is missing or not an arch's mapping."""
    if not isinstance(d, dict):
        return None
    try:
        return Arch(d)
    except Exception:  # noqa: BLE001 - whatever a foreign attribute holds, it is not an arch this reader uses
        return None
