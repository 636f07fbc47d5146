"""Where candidates run: "local" (this process, one at a time), "ray" (Ray tasks on a cluster).

Each backend is ``fn(search, cfg, progress)`` registered in ``BACKENDS``; it asks and tells
through :class:`hynas.search.engine.Search`, so every backend writes the same study. The
modules of this package are imported on the first lookup (heavy runtimes such as Ray only
inside the backend's function). ``isolate`` runs one candidate in a child process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hynas.registry import Registry

BACKENDS: Registry[Callable[..., None]] = Registry("backend", loader="hynas.search.backends")
PREFLIGHTS: dict[str, Callable[[Any], None]] = {}  # backend -> check(cfg) run before the run directory is written

__all__ = ["BACKENDS", "PREFLIGHTS", "preflight"]


def preflight(name: str, cfg: Any) -> None:
    """Refuse (a UserError) what the backend cannot run - e.g. a Ray address nothing answers at - before
    anything is written. Backends without a check pass."""
    BACKENDS.get(name)  # loads the backend modules, which register their checks
    check = PREFLIGHTS.get(name)
    if check is not None:
        check(cfg)
