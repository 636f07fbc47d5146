"""A concrete architecture (genotype): plain JSON data with a canonical hash.

Layout::

    {"version": 1,
     "input": {"channels": 3, "resolution": 32, "classes": 10},   # + "dims": 1 or 3 (absent = 2)
     "stem": {"type": "conv_stem", "out": 24, "knobs": {...}},
     "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}},
                 "blocks": [{"type": "mbconv", "out": 32, "knobs": {...}}, ...]}, ...],
     "head": {"type": "pool_linear", "knobs": {...}}}

Every block carries all of its knobs (defaults filled in), so two genotypes that build
the same network serialize, and hash, identically.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

ARCH_VERSION = 1


class Arch:
    """An immutable-by-convention architecture; compare and hash by canonical JSON."""

    __slots__ = ("_data", "_json")

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = copy.deepcopy(data)
        self._data.setdefault("version", ARCH_VERSION)
        self._json = json.dumps(self._data, sort_keys=True, separators=(",", ":"))

    # -- serialization
    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def to_json(self, indent: int | None = None) -> str:
        return self._json if indent is None else json.dumps(self._data, sort_keys=True, indent=indent)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> Arch:
        data = json.loads(text) if isinstance(text, str) else text
        if not isinstance(data, dict):  # a list, a number, a string: ValueError like any other bad JSON
            raise ValueError(f"an architecture is a JSON object, got {type(data).__name__}")  # noqa: TRY004
        return cls(data)

    @property
    def hash(self) -> str:
        """Canonical hash: identical networks (same blocks, widths, knobs, input) hash alike."""
        return hashlib.sha256(self._json.encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and other._json == self._json

    def __hash__(self) -> int:
        return hash(self._json)

    def __repr__(self) -> str:
        return f"Arch({self.hash}: {self.summary()})"

    # -- views
    @property
    def input(self) -> dict[str, int]:
        return dict(self._data["input"])

    @property
    def dims(self) -> int:
        """Spatial axes of the input: 1 signals/tokens, 2 images (the default), 3 volumes."""
        return int(self._data["input"].get("dims", 2))

    def input_shape(self, batch: int = 1, resolution: int | None = None) -> tuple[int, ...]:
        """The input tensor's shape: (batch, channels) then ``dims`` axes of ``resolution`` (the arch's own);
        a feature-field table is (batch, columns)."""
        if "fields" in self._data["input"]:
            return (batch, int(self._data["input"]["channels"]))
        res = int(resolution or self._data["input"]["resolution"])
        return (batch, int(self._data["input"]["channels"])) + (res,) * self.dims

    @property
    def stages(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data["stages"])

    def blocks(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(stage index, block entry) for every body block, in order."""
        for i, st in enumerate(self._data["stages"]):
            for b in st["blocks"]:
                yield i, b

    def depths(self) -> list[int]:
        return [len(s["blocks"]) for s in self._data["stages"]]

    def summary(self) -> str:
        """A one-line readable description, e.g. ``conv_stem24 | s1 mbconv×2@32 | ...``."""
        parts = [f"{self._data['stem']['type']}{self._data['stem']['out']}"]
        for st in self._data["stages"]:
            runs: list[list[Any]] = []
            for b in st["blocks"]:
                if runs and runs[-1][0] == b["type"] and runs[-1][2] == b["out"]:
                    runs[-1][1] += 1
                else:
                    runs.append([b["type"], 1, b["out"]])
            parts.append(f"{st.get('name', 's')} " + " ".join(f"{t}×{n}@{w}" for t, n, w in runs))
        return " | ".join(parts)

    def with_input(self, resolution: int | None = None, classes: int | None = None,
                   channels: int | None = None) -> Arch:
        d = self.to_dict()
        if resolution is not None:
            d["input"]["resolution"] = resolution
        if classes is not None:
            d["input"]["classes"] = classes
        if channels is not None:
            d["input"]["channels"] = channels
        return Arch(d)
