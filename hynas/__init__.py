"""hynas: design-space exploration and multi-objective NAS for hybrid conv + attention networks."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"create_model": "hynas.models", "list_models": "hynas.models"}  # imported on first use (torch)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hynas' has no attribute '{name}'")


__all__ = ["__version__", "create_model", "list_models"]
