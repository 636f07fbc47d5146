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

from hynas.space.spec import BlockOption, Segment, Space, StageSpec

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


def _segment_dist(seg: Segment, rep: int, attn: frozenset[str]) -> Dist:
    """(attention blocks, blocks) -> configurations of one segment, summed over its count choices."""
    width = len(seg.width) if seg.width is not None else 1
    if seg.sequence is not None:
        poly: dict[int, int] = {0: width}
        for _ in range(rep):
            for k, opts in enumerate(seg.sequence):
                a, n = _configs(opts, attn)
                w = len(seg.seq_widths[k]) if seg.seq_widths and seg.seq_widths[k] else 1
                poly = _mul1(poly, {1: a * w, 0: n * w} if a else {0: n * w})
        return {(k, rep * len(seg.sequence)): v for k, v in poly.items() if v}
    a, n = _configs(seg.options, attn)
    out: Dist = defaultdict(int)
    for c in seg.count:
        m = rep * c
        if m == 0:
            out[(0, 0)] += 1
        elif seg.per_block:
            for k in range(m + 1):
                out[(k, m)] += math.comb(m, k) * a ** k * n ** (m - k) * width
        else:
            out[(m, m)] += a * width
            out[(0, m)] += n * width
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


def _base(st: StageSpec) -> int:
    ups = sum(o.n_configs() for o in st.upsample) if st.upsample else 1
    width = 1 if st.skip is not None and st.merge == "sum" else len(st.width)  # tied to the skip's width
    return width * sum(o.n_configs() for o in st.downsample) * ups


def stage_total(st: StageSpec, attn: frozenset[str]) -> int:
    """Number of distinct configurations of one stage (no layout rule couples them)."""
    total = 0
    for rep in st.repeat:
        ways = 1
        for seg in st.segments:
            ways *= sum(_segment_dist(seg, rep, attn).values())
        total += ways
    return total * _base(st)


def stage_distribution(st: StageSpec, attn: frozenset[str], budget: _Budget | None = None) -> Dist:
    """(attention blocks, total blocks) -> number of distinct stage configurations."""
    budget = budget or _Budget(WORK_BUDGET)
    dist: Dist = defaultdict(int)
    for rep in st.repeat:
        poly: Dist = {(0, 0): 1}
        for seg in st.segments:
            poly = _mul2(poly, _segment_dist(seg, rep, attn), budget)
        for key, v in poly.items():
            dist[key] += v
    base = _base(st)
    return {key: v * base for key, v in dist.items() if v}


def count_space(space: Space, budget: int = WORK_BUDGET) -> SpaceCount:
    """The space's size: exact, or (marked) the upper bound that ignores the asymmetry rule."""
    attn = space.attention_types
    head = sum(o.n_configs() for o in space.head)
    stem = len(space.stem.width) * sum(o.n_configs() for o in space.stem.options)
    free = stem * head * math.prod(stage_total(st, attn) for st in space.stages)
    if not space.rules.asymmetric:
        return SpaceCount(free)
    try:
        return SpaceCount(stem * head * _asymmetric(space, attn, _Budget(budget)))
    except _TooCostly:
        return SpaceCount(free, exact=False)


def _asymmetric(space: Space, attn: frozenset[str], budget: _Budget) -> int:
    state: dict[Fraction, int] = {Fraction(-1): 1}
    for st in space.stages:
        d = stage_distribution(st, attn, budget)
        budget.spend(len(state) * len(d))
        nxt: dict[Fraction, int] = defaultdict(int)
        for share, ways in state.items():
            for (a, n), count in d.items():
                s = Fraction(a, max(n, 1))
                if s >= share:
                    nxt[s] += ways * count
        state = nxt
    return sum(state.values())


def space_size(space: Space) -> int:
    """Number of genotypes allowed by the space's choices and layout rules (an upper bound when
    ``count_space`` says the exact count is too costly)."""
    return count_space(space).value


def size_text(n: int) -> str:
    return f"{n:,}" if n < 10 ** 15 else f"10^{math.log10(n):.2f}"
