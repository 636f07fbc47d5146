"""The loaded, validated search space: frozen dataclasses, no torch.

Every choice is a tuple of allowed values; a fixed value is a one-element tuple. A space
with a single choice everywhere is a fixed architecture (how reference models are written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hynas.space.catalog import NO_DOWNSAMPLE


@dataclass(frozen=True)
class BlockOption:
    """A block type with the choices for each of its knobs (all knobs present)."""

    type: str
    knobs: tuple[tuple[str, tuple[Any, ...]], ...]

    def knob_dict(self) -> dict[str, tuple[Any, ...]]:
        return dict(self.knobs)

    def n_configs(self) -> int:
        n = 1
        for _, values in self.knobs:
            n *= len(values)
        return n


@dataclass(frozen=True)
class Segment:
    """A run of blocks inside a stage.

    ``options`` lists the allowed blocks. With ``per_block`` false one block type and knob
    set is drawn for the whole segment (and all repeats); with it true each block draws its
    own. ``sequence`` segments list one option set per position (per-block heterogeneity,
    e.g. EfficientMod's alternating MLP ratios); their count is the sequence length.
    """

    count: tuple[int, ...]
    width: tuple[int, ...] | None
    options: tuple[BlockOption, ...]
    per_block: bool = False
    sequence: tuple[tuple[BlockOption, ...], ...] | None = None
    seq_widths: tuple[tuple[int, ...] | None, ...] | None = None


@dataclass(frozen=True)
class StageSpec:
    name: str
    width: tuple[int, ...]
    downsample: tuple[BlockOption, ...]
    repeat: tuple[int, ...]
    segments: tuple[Segment, ...]
    upsample: tuple[BlockOption, ...] = ()  # decoder stages: doubles the extent instead of downsampling
    skip: int | None = None  # index of an earlier stage whose output joins this stage's input
    merge: str = "sum"  # how the skip joins: sum (widths must agree) or concat (channels add up)


@dataclass(frozen=True)
class StemSpec:
    width: tuple[int, ...]
    options: tuple[BlockOption, ...]
    #: (type, reduction) per option: a fixed factor or the knob that sets it (``BlockInfo.reduction``)
    reductions: tuple[tuple[str, int | str | None], ...] = ()

    def reduction(self, type_: str, knobs: dict[str, Any]) -> int | None:
        """The map reduction of the stem ``type_`` with ``knobs`` (None when the block does not declare it)."""
        red = dict(self.reductions).get(type_)
        return knobs.get(red) if isinstance(red, str) else red


@dataclass(frozen=True)
class Rules:
    attention_from_stage: int | None = None  # 1-based: attention blocks only from this stage on
    asymmetric: bool = False  # AsCAN: attention share never decreases from stage to stage
    max_params: float | None = None
    max_macs: float | None = None
    min_params: float | None = None
    max_activation_mb: float | None = None  # predicted peak activations at batch 1 (hynas.cost.predict_activation_bytes)
    output_stride: int | None = None  # the map's total reduction before the head (stem x 2 per halving stage)


@dataclass(frozen=True)
class InputSpec:
    """What the network takes: ``dims`` spatial axes of extent ``resolution`` (a length for 1-D)."""

    channels: int
    resolution: int
    classes: int
    dims: int = 2  # 1: signals (N, C, L); 2: images (N, C, H, W); 3: volumes (N, C, D, H, W)
    #: feature fields (recommender inputs): (name, "cat" | "dense", vocabulary size | width) each. The input
    #: is then a (N, channels) table, one column per categorical field and ``width`` per dense one, and the
    #: network's tokens are the fields (dims 1, ``resolution`` = the number of fields).
    fields: tuple[tuple[str, str, int], ...] = ()

    def arch_input(self) -> dict[str, Any]:
        """The arch's ``input`` entry; ``dims`` is written only when it is not 2, so image archs hash as before."""
        d: dict[str, Any] = {"channels": self.channels, "resolution": self.resolution, "classes": self.classes}
        if self.dims != 2:
            d["dims"] = self.dims
        if self.fields:
            d["fields"] = [list(f) for f in self.fields]
        return d


@dataclass(frozen=True)
class Space:
    name: str
    file: str
    input: InputSpec
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: tuple[BlockOption, ...]
    rules: Rules
    attention_types: frozenset[str] = frozenset()  # block types that attend (for layout rules)
    stride_types: frozenset[str] = frozenset()  # body blocks that can stride (downsample 'block')
    description: str = ""
    raw: str = ""  # the YAML text as loaded, saved next to every run for re-runs


def stage_steps(st: StageSpec) -> frozenset[int]:
    """How a stage can change the map, as powers of 2: 1 halves, 0 keeps, -1 doubles (an upsample stage)."""
    if st.upsample:
        return frozenset({-1})
    return frozenset(0 if o.type == NO_DOWNSAMPLE else 1 for o in st.downsample)


def reachable_levels(stages: tuple[StageSpec, ...]) -> list[frozenset[int]]:
    """``out[i]``: the sums of steps that stages i.. can make (``out[len(stages)]`` is {0})."""
    out = [frozenset({0})]
    for st in reversed(stages):
        out.append(frozenset(a + b for a in stage_steps(st) for b in out[-1]))
    return out[::-1]


def stride_level(stride: int, reduction: int) -> int | None:
    """k with reduction * 2**k == stride (negative when upsampling stages undo part of the reduction), or None
    when no number of halvings or doublings makes it."""
    if reduction < 1 or stride < 1:
        return None
    big, small, sign = (stride, reduction, 1) if stride >= reduction else (reduction, stride, -1)
    if big % small:
        return None
    q = big // small
    return sign * (q.bit_length() - 1) if q & (q - 1) == 0 else None
