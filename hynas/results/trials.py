"""Read a run's trials back as plain records (whatever backend wrote them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hynas.search.rundir import open_study, read_meta
from hynas.space.arch import Arch


@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE, FAIL, PRUNED, RUNNING
    values: dict[str, float]
    arch: Arch | None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        return self.attrs.get("fail_reason") or self.attrs.get("rejected") or (
            f"duplicate of trial {self.attrs['duplicate_of']}" if "duplicate_of" in self.attrs else None)


@dataclass
class Run:
    path: Path
    meta: dict[str, Any]
    trials: list[TrialRecord]

    @property
    def objectives(self) -> list[str]:
        return list(self.meta["config"]["objectives"])

    @property
    def directions(self) -> list[str]:
        from hynas.search.config import OBJECTIVES

        return [OBJECTIVES[o] for o in self.objectives]

    def complete(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "COMPLETE"]


def load_run(run_dir: str | Path) -> Run:
    meta = read_meta(run_dir)
    study = open_study(meta)
    objectives = meta["config"]["objectives"]
    trials = []
    for t in study.get_trials(deepcopy=False):
        values = dict(zip(objectives, t.values)) if t.values is not None else {}
        arch = Arch(t.user_attrs["arch"]) if "arch" in t.user_attrs else None
        trials.append(TrialRecord(t.number, t.state.name, values, arch, dict(t.user_attrs)))
    return Run(Path(run_dir), meta, trials)
