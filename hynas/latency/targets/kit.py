"""Targets defined by a predictor file fitted from a profile kit (``hynas profile --import``).

Such a target names a device hynas does not run on (a phone, a board): its predictor was
fitted on timings measured there by the kit's standalone runner. It predicts only; every
attempt to time a model on it here is refused with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from hynas.errors import UserError
from hynas.latency.target import Target


@dataclass(frozen=True)
class KitTarget(Target):
    """A device measured through a profile kit: predicted from its predictor file, never timed here."""

    source: str = ""  # the predictor file that defines it
    device_info: str = ""

    def measure_refusal(self) -> str:
        return (
            f"target '{self.name}' is defined by {self.source}, fitted from a profile kit run on "
            f"{self.device_info or 'another device'}; it predicts only and cannot be timed on this machine. "
            f"Drop --measure to use its predictor, or re-run the kit on that device "
            f"(`hynas profile --kit DIR --target {self.name} ...`)."
        )

    def prepare(self, model: nn.Module, shape: tuple[int, ...]) -> Callable[[], Any]:
        raise UserError(self.measure_refusal())

    def runtime_versions(self) -> dict[str, str]:
        return {}

    def variant(self, threads: int | None = None, batch: int | None = None) -> Target:
        return self


def kit_target(name: str) -> KitTarget | None:
    """The kit-made target called ``name`` when a predictor file for it says it came from a kit."""
    from hynas.latency.predictor import find_predictor

    try:
        path = find_predictor(name)
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UserError, OSError, ValueError):
        return None
    t = d.get("target", {}) if isinstance(d, dict) else {}
    if not isinstance(t, dict) or not isinstance(t.get("kit"), dict):
        return None
    fp = d.get("fingerprint", {})
    return KitTarget(
        name=name,
        runtime=str(t.get("runtime", "")),
        device=str(t.get("device", "kit")),
        precision=str(t.get("precision", "fp32")),
        batch=int(t.get("batch", 1)),
        threads=int(t.get("threads", 1)),
        source=str(path),
        device_info=" / ".join(str(fp[k]) for k in ("cpu_model", "device") if fp.get(k)),
    )
