"""Predicted latency from a measured predictor file (``predictors/<target>.json``)."""

from __future__ import annotations

import os
from pathlib import Path

from hynas.errors import UserError

REPO_PREDICTORS = Path(__file__).resolve().parent.parent.parent / "predictors"


def predictor_dirs() -> list[Path]:
    """Where predictor files are looked up: $HYNAS_PREDICTORS, ./predictors, the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("HYNAS_PREDICTORS", "").split(os.pathsep) if p]
    return dirs + [Path.cwd() / "predictors", REPO_PREDICTORS]


def find_predictor(target: str) -> Path:
    for d in predictor_dirs():
        p = d / f"{target}.json"
        if p.is_file():
            return p
    raise UserError(f"no latency predictor for target '{target}' (looked in "
                    f"{', '.join(str(d) for d in predictor_dirs())}). Measure one with "
                    f"`hynas profile --target {target} --space FILE`, or time candidates with --measure.")


def predict_with_file(arch, target: str, *, resolution: int | None = None):  # noqa: ANN001, ANN201
    find_predictor(target)
    raise UserError(f"latency predictors are not available yet; use --measure (target {target}).")
