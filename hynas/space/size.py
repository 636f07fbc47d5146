"""Exact size of a space: the number of distinct genotypes it can produce under its layout rules.

Counts are exact integers (Python big ints). The AsCAN asymmetry rule couples stages, so
each stage is summarised as a distribution over (attention blocks, total blocks) and the
stages are combined by dynamic programming over the last stage's attention share. Global
limits (max params / MACs) need a built model and are not counted; ``hynas space
--estimate`` reports the feasible fraction by sampling.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from fractions import Fraction

from hynas.space.spec import BlockOption, Space, StageSpec

Poly = dict[int, int]  # attention blocks -> number of configurations


def _configs(options: tuple[BlockOption, ...], attn: frozenset[str]) -> tuple[int, int]:
    a = sum(o.n_configs() for o in options if o.type in attn)
    n = sum(o.n_configs() for o in options if o.type not in attn)
    return a, n


def _mul(p: Poly, q: Poly) -> Poly:
    out: Poly = defaultdict(int)
    for i, x in p.items():
        for j, y in q.items():
            out[i + j] += x * y
    return dict(out)


def _per_block(a: int, n: int, m: int) -> Poly:
    return {k: math.comb(m, k) * a ** k * n ** (m - k) for k in range(m + 1)}


def stage_distribution(st: StageSpec, attn: frozenset[str]) -> dict[tuple[int, int], int]:
    """(attention blocks, total blocks) -> number of distinct stage configurations."""
    base = len(st.width) * sum(o.n_configs() for o in st.downsample)
    dist: dict[tuple[int, int], int] = defaultdict(int)
    for rep in st.repeat:
        for counts in itertools.product(*(s.count for s in st.segments)):
            poly: Poly = {0: 1}
            for seg, c in zip(st.segments, counts):
                m = rep * c
                if m == 0:
                    continue
                if seg.width is not None:
                    poly = _mul(poly, {0: len(seg.width)})
                if seg.sequence is not None:
                    for _ in range(rep):
                        for k, opts in enumerate(seg.sequence):
                            a, n = _configs(opts, attn)
                            w = len(seg.seq_widths[k]) if seg.seq_widths and seg.seq_widths[k] else 1
                            poly = _mul(poly, {1: a * w, 0: n * w} if a else {0: n * w})
                elif seg.per_block:
                    a, n = _configs(seg.options, attn)
                    poly = _mul(poly, _per_block(a, n, m))
                else:
                    a, n = _configs(seg.options, attn)
                    poly = _mul(poly, {m: a, 0: n} if m else {0: a + n})
            total = rep * sum(counts)
            for k, v in poly.items():
                if v:
                    dist[(k, total)] += v * base
    return dict(dist)


def space_size(space: Space) -> int:
    """Exact number of genotypes allowed by the space's choices and layout rules."""
    attn = space.attention_types
    head = sum(o.n_configs() for o in space.head)
    stem = len(space.stem.width) * sum(o.n_configs() for o in space.stem.options)
    dists = [stage_distribution(st, attn) for st in space.stages]
    if not space.rules.asymmetric:
        total = 1
        for d in dists:
            total *= sum(d.values())
        return stem * head * total
    state: dict[Fraction, int] = {Fraction(-1): 1}
    for d in dists:
        nxt: dict[Fraction, int] = defaultdict(int)
        for share, ways in state.items():
            for (a, n), count in d.items():
                s = Fraction(a, max(n, 1))
                if s >= share:
                    nxt[s] += ways * count
        state = nxt
    return stem * head * sum(state.values())


def size_text(n: int) -> str:
    return f"{n:,}" if n < 10 ** 15 else f"10^{math.log10(n):.2f}"
