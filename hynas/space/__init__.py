"""The search-space DSL: YAML -> frozen ``Space`` -> concrete ``Arch``. Imports no torch."""

from __future__ import annotations

from pathlib import Path

from hynas.resources import spaces_dir
from hynas.space.arch import Arch
from hynas.space.loader import load_space, parse_space
from hynas.space.sampling import (
    InfeasibleSpace,
    OptunaChooser,
    RandomChooser,
    ReplayChooser,
    contains,
    decode,
    encode,
    fixed_arch,
    mutate,
    rule_violations,
    sample,
)
from hynas.space.size import size_text, space_size
from hynas.space.spec import Space

SPACES_DIR = spaces_dir()  # inside the installed package, or the checkout's search_spaces/


def shipped_spaces() -> dict[str, Path]:
    """Spaces shipped inside the package (usable by name, e.g. ``--space default``)."""
    return {p.stem: p for p in sorted(spaces_dir().glob("*.yaml"))}


__all__ = [
    "Arch",
    "InfeasibleSpace",
    "OptunaChooser",
    "RandomChooser",
    "ReplayChooser",
    "Space",
    "contains",
    "decode",
    "encode",
    "fixed_arch",
    "load_space",
    "mutate",
    "parse_space",
    "rule_violations",
    "sample",
    "shipped_spaces",
    "size_text",
    "space_size",
]
