"""Where candidates run: "local" (this process, one at a time), "ray" (Ray tasks on a cluster).

Each backend is ``fn(search, cfg, progress)`` registered in ``BACKENDS``; it asks and tells
through :class:`hynas.search.engine.Search`, so every backend writes the same study. The
modules of this package are imported on the first lookup (heavy runtimes such as Ray only
inside the backend's function). ``isolate`` runs one candidate in a child process.
"""

from __future__ import annotations

from collections.abc import Callable

from hynas.registry import Registry

BACKENDS: Registry[Callable[..., None]] = Registry("backend", loader="hynas.search.backends")

__all__ = ["BACKENDS"]
