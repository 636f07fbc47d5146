"""What the DSL needs to know about blocks, without torch.

Blocks live in ``hynas.blocks`` (which imports torch) and describe themselves with a
``BlockInfo``: role, family, paper, whether they attend, which knobs they take and what
values each knob allows. The space loader validates a YAML file against a *catalog* (a
mapping of block name to ``BlockInfo``); the default catalog comes from ``hynas.blocks``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

ROLES = ("stem", "downsample", "upsample", "body", "head")
#: how a stage joins an earlier stage's output (``skip``): add it, or concatenate channels
MERGES = ("sum", "concat")
#: downsample choices that are not blocks: keep the map, or let the first block stride.
NO_DOWNSAMPLE = "none"
FIRST_BLOCK_STRIDES = "block"
RESERVED_DOWNSAMPLE = (NO_DOWNSAMPLE, FIRST_BLOCK_STRIDES)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
KINDS = ("int", "float", "str", "bool")
#: input kinds by number of spatial axes: 1 signals and token sequences, 2 images, 3 volumes
DIMS = (1, 2, 3)
DIMS_TEXT = {1: "1-D (channels x length)", 2: "2-D (channels x height x width)",
             3: "3-D (channels x depth x height x width)"}


@dataclass(frozen=True)
class Knob:
    """One tunable argument of a block: its type, the values it allows and its default."""

    kind: str
    default: Any
    choices: tuple[Any, ...] | None = None  # allowed values (str, bool, small int sets)
    low: float | None = None  # inclusive numeric range when ``choices`` is None
    high: float | None = None
    doc: str = ""
    #: how the value must fit the block's place (``RELATIONS``), checked when a space loads; None: it need not
    relation: str | None = None

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not allowed, or None when it is."""
        ok_type = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
        }[self.kind]
        if not ok_type:
            return f"expected a {self.kind}, got {type(value).__name__} {short_repr(value)}."
        if self.kind in ("int", "float") and not _finite(value):
            return f"value {short_repr(value)} is not a finite number."
        if self.choices is not None and value not in self.choices:
            return f"value {short_repr(value)} is not allowed."
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            return f"value {short_repr(value)} is out of range."
        return None

    def allowed_text(self) -> str:
        if self.choices is not None:
            return ", ".join(repr(c) for c in self.choices)
        return f"{self.kind} in [{self.low}, {self.high}]"


def _finite(value: Any) -> bool:
    if isinstance(value, int):
        return value.bit_length() <= 1000  # converting to float would overflow far before that
    return math.isfinite(value)


def short_repr(value: Any, limit: int = 60) -> str:
    """repr() that never fails or floods: a huge integer is shown by its digit count."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


#: knob relations to the block's place in the network: the value divides the block's width (heads, head
#: widths), tiles the map the block sees (windows), or is at most that map's side (patches)
RELATIONS = ("divides_width", "tiles_map", "within_map")


def related(knob: Knob, relation: str) -> Knob:
    """``knob`` whose value must stand in ``relation`` (one of ``RELATIONS``) to the block's width or map."""
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}")
    return replace(knob, relation=relation)


def int_knob(default: int, low: int, high: int, doc: str = "") -> Knob:
    return Knob("int", default, None, low, high, doc)


def float_knob(default: float, low: float, high: float, doc: str = "") -> Knob:
    return Knob("float", default, None, low, high, doc)


def choice_knob(default: Any, choices: tuple[Any, ...], doc: str = "") -> Knob:
    kind = "bool" if isinstance(default, bool) else "int" if isinstance(default, int) else (
        "float" if isinstance(default, float) else "str")
    return Knob(kind, default, tuple(choices), None, None, doc)


def bool_knob(default: bool, doc: str = "") -> Knob:
    return Knob("bool", default, (False, True), None, None, doc)


@dataclass(frozen=True)
class BlockInfo:
    """A block's description as the DSL sees it."""

    name: str
    role: str
    family: str
    paper: str
    attention: bool = False
    knobs: Mapping[str, Knob] = field(default_factory=dict)
    can_stride: bool = False  # body blocks: may take stride 2 as the first block of a stage
    doc: str = ""
    dims: tuple[int, ...] = (2,)  # the input kinds it runs on: 1 signals, 2 images, 3 volumes
    fields: bool = False  # a stem that embeds feature fields (takes the input's schema)
    #: stems: how much they reduce the map, a fixed factor or the name of the knob whose value is the factor
    #: (None: not declared); lets the DSL check ``rules.output_stride`` without torch
    reduction: int | str | None = None


Catalog = Mapping[str, BlockInfo]


def default_catalog() -> Catalog:
    """The catalog of registered blocks (imports ``hynas.blocks``, hence torch)."""
    from hynas.blocks import catalog

    return catalog()
