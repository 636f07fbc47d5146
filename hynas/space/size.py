"""Size of a space: the number of distinct genotypes it can produce under its layout rules.

Counts are Python big ints and never enumerate combinations. Each segment's count choices
are summed once, so a stage costs time linear in its segments and choices. Without the
AsCAN asymmetry rule the size is a product of per-stage totals (always exact). With it,
each stage is summarised as a distribution over (attention blocks, total blocks), built by
convolving the segments' distributions, and the stages are combined by dynamic programming
over the last stage's attention share. That distribution can grow with the number of
segments; past ``WORK_BUDGET`` multiply-adds the count stops and reports the size without
the asymmetry rule, which is an upper bound (``SpaceCount.exact`` is False). Global limits
(max params / MACs) need a built model and are not counted; ``hynas space --estimate``
reports the feasible fraction by sampling.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from hynas.space.catalog import FIRST_BLOCK_STRIDES, NO_DOWNSAMPLE
from hynas.space.spec import BlockOption, Segment, Space, StageSpec, stride_level

WORK_BUDGET = 2_000_000  # multiply-adds allowed for the exact count under the asymmetry rule
Dist = dict[tuple[int, int], int]  # (attention blocks, total blocks) -> number of configurations


@dataclass(frozen=True)
class SpaceCount:
    """A space's size: exact, or an upper bound when the exact count would cost too much."""

    value: int
    exact: bool = True

    def text(self) -> str:
        return size_text(self.value) if self.exact else f"at most {size_text(self.value)}"


class _TooCostly(Exception):
    pass


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _TooCostly


def _configs(options: tuple[BlockOption, ...], attn: frozenset[str]) -> tuple[int, int]:
    a = sum(o.n_configs() for o in options if o.type in attn)
    n = sum(o.n_configs() for o in options if o.type not in attn)
    return a, n


def _strided(options: tuple[BlockOption, ...], strid: frozenset[str]) -> tuple[BlockOption, ...]:
    """The options a stage's first block draws from under downsample ``block`` (all of them when none can)."""
    return tuple(o for o in options if o.type in strid) or options


def _segment_dist(seg: Segment, rep: int, attn: frozenset[str], first: frozenset[str] | None = None) -> Dist:
    """(attention blocks, blocks) -> configurations of one segment, summed over its count choices.

    ``first``: the segment opens a stage that downsamples with ``block``, so its first block is drawn among the
    block types in ``first`` (those that can stride); only its non-empty count choices are counted.
    """
    width = len(seg.width) if seg.width is not None else 1
    if seg.sequence is not None:
        poly: dict[int, int] = {0: width}
        for r in range(rep):
            for k, opts in enumerate(seg.sequence):
                a, n = _configs(_strided(opts, first) if first is not None and (r, k) == (0, 0) else opts, attn)
                w = len(seg.seq_widths[k]) if seg.seq_widths and seg.seq_widths[k] else 1
                poly = _mul1(poly, {1: a * w, 0: n * w} if a else {0: n * w})
        return {(k, rep * len(seg.sequence)): v for k, v in poly.items() if v}
    a, n = _configs(seg.options, attn)
    a1, n1 = _configs(_strided(seg.options, first), attn) if first is not None else (a, n)
    out: Dist = defaultdict(int)
    for c in seg.count:
        m = rep * c
        if m == 0:
            if first is None:
                out[(0, 0)] += 1
        elif seg.per_block:
            for k in range(m + 1):  # the first block (a1/n1 ways) then m - 1 free ones
                with_first = a1 * math.comb(m - 1, k - 1) * a ** (k - 1) * n ** (m - k) if k else 0
                without = n1 * math.comb(m - 1, k) * a ** k * n ** (m - 1 - k) if k < m else 0
                out[(k, m)] += (with_first + without) * width
        else:
            out[(m, m)] += a1 * width
            out[(0, m)] += n1 * width
    return {key: v for key, v in out.items() if v}


def _mul1(p: dict[int, int], q: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for i, x in p.items():
        for j, y in q.items():
            out[i + j] += x * y
    return dict(out)


def _mul2(p: Dist, q: Dist, budget: _Budget) -> Dist:
    budget.spend(len(p) * len(q))
    out: Dist = defaultdict(int)
    for (a1, t1), x in p.items():
        for (a2, t2), y in q.items():
            out[(a1 + a2, t1 + t2)] += x * y
    return dict(out)


def _width_ups(st: StageSpec) -> int:
    ups = sum(o.n_configs() for o in st.upsample) if st.upsample else 1
    width = 1 if st.skip is not None and st.merge == "sum" else len(st.width)  # tied to the skip's width
    return width * ups


def _down_groups(st: StageSpec, strid: frozenset[str]) -> list[tuple[int, bool, int]]:
    """(step, first block restricted to ``strid``, downsample configurations) for the stage's downsample choices.

    Choices that count alike are merged, so a stage without a restricted ``block`` costs what it always did.
    """
    groups: dict[tuple[int, bool], int] = defaultdict(int)
    firsts = {o.type for seg in st.segments for o in (seg.sequence[0] if seg.sequence else seg.options)}
    for o in st.downsample:
        step = -1 if st.upsample else 0 if o.type == NO_DOWNSAMPLE else 1
        restrict = o.type == FIRST_BLOCK_STRIDES and not firsts <= strid
        groups[(step, restrict)] += o.n_configs()
    return [(step, restrict, n) for (step, restrict), n in groups.items()]


def _rep_dist(st: StageSpec, rep: int, attn: frozenset[str], first: frozenset[str] | None,
              budget: _Budget) -> Dist:
    """The stage's (attention, blocks) distribution for one repeat count; ``first`` as in ``_segment_dist``."""
    if first is None:
        poly: Dist = {(0, 0): 1}
        for seg in st.segments:
            poly = _mul2(poly, _segment_dist(seg, rep, attn), budget)
        return poly
    total: Dist = defaultdict(int)
    for j, seg in enumerate(st.segments):  # segment j opens the stage: those before it are empty
        poly = _segment_dist(seg, rep, attn, first)
        for later in st.segments[j + 1:]:
            poly = _mul2(poly, _segment_dist(later, rep, attn), budget)
        for key, v in poly.items():
            total[key] += v
        if seg.sequence is not None or 0 not in seg.count:
            break
    return dict(total)


def stage_steps_distribution(st: StageSpec, attn: frozenset[str], strid: frozenset[str] = frozenset(),
                             budget: _Budget | None = None) -> dict[int, Dist]:
    """step (1 halves the map, 0 keeps it, -1 doubles it) -> (attention blocks, total blocks) -> configurations."""
    budget = budget or _Budget(WORK_BUDGET)
    out: dict[int, Dist] = defaultdict(lambda: defaultdict(int))
    memo: dict[bool, Dist] = {}  # each distribution computed once, whatever the number of downsample choices
    for step, restrict, n_down in _down_groups(st, strid):
        if restrict not in memo:
            memo[restrict] = defaultdict(int)
            for rep in st.repeat:
                for key, v in _rep_dist(st, rep, attn, strid if restrict else None, budget).items():
                    memo[restrict][key] += v
        for key, v in memo[restrict].items():
            out[step][key] += v * n_down * _width_ups(st)
    return {step: {k: v for k, v in d.items() if v} for step, d in out.items()}


def stage_distribution(st: StageSpec, attn: frozenset[str], budget: _Budget | None = None,
                       strid: frozenset[str] = frozenset(), steps: dict[int, Dist] | None = None) -> Dist:
    """(attention blocks, total blocks) -> number of distinct stage configurations."""
    dist: Dist = defaultdict(int)
    for d in (steps if steps is not None else stage_steps_distribution(st, attn, strid, budget)).values():
        for key, v in d.items():
            dist[key] += v
    return dict(dist)


def _rep_total(st: StageSpec, rep: int, attn: frozenset[str], first: frozenset[str] | None) -> int:
    if first is None:
        return math.prod(sum(_segment_dist(seg, rep, attn).values()) for seg in st.segments)
    total = 0
    for j, seg in enumerate(st.segments):
        total += sum(_segment_dist(seg, rep, attn, first).values()) * math.prod(
            sum(_segment_dist(later, rep, attn).values()) for later in st.segments[j + 1:])
        if seg.sequence is not None or 0 not in seg.count:
            break
    return total


def stage_step_totals(st: StageSpec, attn: frozenset[str], strid: frozenset[str] = frozenset()) -> dict[int, int]:
    """step -> number of distinct configurations of the stage with that change of map."""
    out: dict[int, int] = defaultdict(int)
    for step, restrict, n_down in _down_groups(st, strid):
        out[step] += sum(_rep_total(st, rep, attn, strid if restrict else None) for rep in st.repeat) * n_down
    return {step: v * _width_ups(st) for step, v in out.items()}


def stage_total(st: StageSpec, attn: frozenset[str], strid: frozenset[str] = frozenset()) -> int:
    """Number of distinct configurations of one stage (no layout rule couples them)."""
    return sum(stage_step_totals(st, attn, strid).values())


def _stem_by_level(space: Space) -> dict[int | None, int]:
    """Stem configurations (times its width choices) grouped by the halvings ``rules.output_stride`` asks after
    them; key None when the space has no such rule."""
    width = len(space.stem.width)
    if space.rules.output_stride is None:
        return {None: width * sum(o.n_configs() for o in space.stem.options)}
    out: dict[int | None, int] = defaultdict(int)
    for o in space.stem.options:
        red = dict(space.stem.reductions).get(o.type)
        values = o.knob_dict()[red] if isinstance(red, str) else (red,)
        for r in values:
            level = None if r is None else stride_level(space.rules.output_stride, r)
            if level is not None:
                out[level] += width * o.n_configs() // len(values)
    return dict(out)


def count_space(space: Space, budget: int = WORK_BUDGET) -> SpaceCount:
    """The space's size: exact, or (marked) the upper bound that ignores the asymmetry rule."""
    attn, strid = space.attention_types, space.stride_types
    head = sum(o.n_configs() for o in space.head)
    stems = _stem_by_level(space)
    levels: dict[int, int] = {0: 1}  # halvings so far -> ways, without the asymmetry rule
    for st in space.stages:
        nxt: dict[int, int] = defaultdict(int)
        totals = stage_step_totals(st, attn, strid)
        for lv, ways in levels.items():
            for step, n in totals.items():
                nxt[lv + step] += ways * n
        levels = nxt
    free = head * _at_levels(stems, levels)
    if not space.rules.asymmetric:
        return SpaceCount(free)
    try:
        return SpaceCount(head * _at_levels(stems, _asymmetric(space, attn, strid, _Budget(budget))))
    except _TooCostly:
        return SpaceCount(free, exact=False)


def _at_levels(stems: dict[int | None, int], levels: dict[int, int]) -> int:
    if None in stems:
        return stems[None] * sum(levels.values())
    return sum(n * levels.get(lv, 0) for lv, n in stems.items())


def _asymmetric(space: Space, attn: frozenset[str], strid: frozenset[str], budget: _Budget) -> dict[int, int]:
    """halvings -> ways under the asymmetry rule (the last stage's attention share never exceeded by a fall)."""
    state: dict[tuple[Fraction, int], int] = {(Fraction(-1), 0): 1}
    for st in space.stages:
        d = stage_steps_distribution(st, attn, strid, budget)
        if space.rules.output_stride is None:  # the map's reduction does not matter: one distribution per stage
            d = {0: stage_distribution(st, attn, strid=strid, steps=d)}
        budget.spend(len(state) * sum(len(v) for v in d.values()))
        nxt: dict[tuple[Fraction, int], int] = defaultdict(int)
        for (share, lv), ways in state.items():
            for step, dist in d.items():
                for (a, n), count in dist.items():
                    s = Fraction(a, max(n, 1))
                    if s >= share:
                        nxt[(s, lv + step)] += ways * count
        state = nxt
    out: dict[int, int] = defaultdict(int)
    for (_, lv), ways in state.items():
        out[lv] += ways
    return dict(out)


def space_size(space: Space) -> int:
    """Number of genotypes allowed by the space's choices and layout rules (an upper bound when
    ``count_space`` says the exact count is too costly)."""
    return count_space(space).value


def size_text(n: int) -> str:
    return f"{n:,}" if n < 10 ** 15 else f"10^{math.log10(n):.2f}"
