"""One decoder serves every way of drawing an Arch from a Space.

``decode(space, chooser)`` walks the space in a fixed order and asks the chooser for
each decision by a stable name (``s2.width``, ``s3.g0.count``, ``s3.g1.ntb.sr_ratio``...).
Random sampling, Optuna's define-by-run ``trial.suggest_categorical``, replay of stored
decisions, mutation and ``contains`` are just different choosers. Only decisions with
more than one option are asked, so a fixed space asks nothing.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from hynas.errors import UserError
from hynas.space.arch import Arch
from hynas.space.catalog import FIRST_BLOCK_STRIDES, NO_DOWNSAMPLE
from hynas.space.spec import BlockOption, Space, StageSpec, reachable_levels, stage_steps, stride_level

Check = Callable[[Arch], "str | None"]


class Chooser(Protocol):
    def choose(self, name: str, options: Sequence[Any]) -> Any: ...


class _Mismatch(Exception):
    """Raised while encoding when the arch does not fit a branch of the space."""


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, name: str, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]


class ReplayChooser:
    """Answers from stored decisions; falls back to another chooser for names not stored."""

    def __init__(self, decisions: dict[str, Any], fallback: Chooser | None = None) -> None:
        self.decisions = decisions
        self.fallback = fallback

    def choose(self, name: str, options: Sequence[Any]) -> Any:
        if name in self.decisions and self.decisions[name] in options:
            return self.decisions[name]
        if self.fallback is None:
            raise _Mismatch(name)
        return self.fallback.choose(name, options)


class OptunaChooser:
    """Define-by-run sampling from an Optuna trial (``trial.suggest_categorical``)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def choose(self, name: str, options: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(name, list(options))


class _Recorder:
    def __init__(self, inner: Chooser) -> None:
        self.inner = inner
        self.decisions: dict[str, Any] = {}
        self.options: dict[str, tuple[Any, ...]] = {}

    def __call__(self, name: str, options: Sequence[Any], hint: Callable[[], Any] | None = None) -> Any:
        if len(options) == 1:
            if hint is not None and isinstance(self.inner, _HintChooser) and hint() != options[0]:
                raise _Mismatch(name)
            return options[0]
        if isinstance(self.inner, _HintChooser):
            value = self.inner.answer(name, options, hint)
        else:
            value = self.inner.choose(name, options)
        self.decisions[name] = value
        self.options[name] = tuple(options)
        return value


# ------------------------------------------------------------------------- decoding

def decode(space: Space, chooser: Chooser) -> tuple[Arch, dict[str, Any]]:
    """Build an Arch from a chooser's answers; returns it with the decisions made."""
    rec = _Recorder(chooser)
    arch = _decode(space, rec, None)
    return arch, rec.decisions


def _decode(space: Space, ch: _Recorder, ref: dict | None) -> Arch:
    r = ref or {}
    stem_opt = _pick(ch, "stem", space.stem.options, lambda: r["stem"]["type"])
    stem = {"type": stem_opt.type, "out": ch("stem.width", space.stem.width, lambda: r["stem"]["out"]),
            "knobs": _knobs(ch, "stem", stem_opt, lambda: r["stem"]["knobs"])}
    stages: list[dict[str, Any]] = []
    target = _target_level(space, stem)
    reach = reachable_levels(space.stages) if target is not None else []
    level = 0
    for i, st in enumerate(space.stages):
        steps = None if target is None else frozenset(s for s in stage_steps(st) if target - level - s in reach[i + 1])
        stages.append(_decode_stage(st, ch, (r.get("stages") or [None] * len(space.stages))[i] if ref else None,
                                    stages, steps, space.stride_types))
        level += _arch_step(stages[-1])
    head_opt = _pick(ch, "head", space.head, lambda: r["head"]["type"])
    head = {"type": head_opt.type, "knobs": _knobs(ch, "head", head_opt, lambda: r["head"]["knobs"])}
    inp = space.input.arch_input()
    return Arch({"input": inp, "stem": stem, "stages": stages, "head": head})


def _target_level(space: Space, stem: dict[str, Any]) -> int | None:
    """Halvings the stages must make after this stem to meet ``rules.output_stride`` (None: no such rule)."""
    if space.rules.output_stride is None:
        return None
    red = space.stem.reduction(stem["type"], stem["knobs"])
    return None if red is None else stride_level(space.rules.output_stride, red)


def _arch_step(st: dict[str, Any]) -> int:
    """An arch stage's change of the map as a power of 2 (1 halves, 0 keeps, -1 doubles)."""
    if "upsample" in st:
        return -1
    return 0 if st["downsample"]["type"] == NO_DOWNSAMPLE else 1


def _subset(options: tuple[BlockOption, ...], keep: Callable[[BlockOption], bool],
            suffix: str) -> tuple[tuple[BlockOption, ...], str]:
    """The options ``keep`` allows, and the suffix that names the decision when they are fewer than all.

    A decision name always stands for the same options (Optuna requires it), so a restricted choice gets its own
    name; an empty restriction (nothing allowed) leaves the choice as it is.
    """
    kept = tuple(o for o in options if keep(o))
    return (options, "") if len(kept) in (0, len(options)) else (kept, suffix)


def _decode_stage(st: StageSpec, ch: _Recorder, ref: dict | None, earlier: list[dict[str, Any]],
                  steps: frozenset[int] | None = None, stride_types: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One stage. ``steps``: the map changes that still meet ``rules.output_stride``; with downsample ``block``
    the first block is drawn among those that can stride."""
    p = st.name
    rb = (ref or {}).get("blocks", [])
    repeat = ch(f"{p}.repeat", st.repeat)
    counts = [ch(f"{p}.g{j}.count", seg.count) for j, seg in enumerate(st.segments)]
    if ref is not None and repeat * sum(counts) != len(rb):
        raise _Mismatch(p)
    # positions of each (repeat, segment, index) in the stage's block list
    pos = {}
    n = 0
    for rr in range(repeat):
        for j, c in enumerate(counts):
            for k in range(c):
                pos[(rr, j, k)] = n
                n += 1

    def at(rr: int, j: int, k: int) -> dict:
        return rb[pos[(rr, j, k)]]

    def first_pos_using_stage_width() -> dict:
        for (rr, j, k), i in sorted(pos.items(), key=lambda t: t[1]):
            seg = st.segments[j]
            if seg.width is None and not (seg.seq_widths and seg.seq_widths[k] is not None):
                return rb[i]
        raise _Mismatch(p)

    if st.skip is not None and st.merge == "sum":  # tied: the skip's output is added to this stage's input
        width = earlier[st.skip]["blocks"][-1]["out"]
    else:
        width = ch(f"{p}.width", st.width, lambda: first_pos_using_stage_width()["out"])
    downs, down_suffix = st.downsample, ""
    if steps is not None and not st.upsample:
        downs, down_suffix = _subset(st.downsample, lambda o: (o.type != NO_DOWNSAMPLE) in steps,
                                     ".halve" if steps == {1} else ".keep")
    down_opt = _pick(ch, f"{p}.down", downs, lambda: ref["downsample"]["type"], down_suffix)
    first_seg = next((j for j, c in enumerate(counts) if c > 0), None)
    strided = down_opt.type == FIRST_BLOCK_STRIDES

    def first_options(options: tuple[BlockOption, ...]) -> tuple[tuple[BlockOption, ...], str]:
        return _subset(options, lambda o: o.type in stride_types, ".strided") if strided else (options, "")
    down = {"type": down_opt.type, "knobs": _knobs(ch, f"{p}.down", down_opt, lambda: ref["downsample"]["knobs"])}
    multi = len(st.repeat) > 1
    blocks: list[dict[str, Any]] = []
    for j, seg in enumerate(st.segments):
        g = f"{p}.g{j}"
        first = next((key for key in sorted(pos) if key[1] == j), None)
        if first is None:  # count 0: the segment is absent, nothing to decide
            continue
        seg_w = width if seg.width is None else ch(f"{g}.width", seg.width, lambda f=first: at(*f)["out"])
        shared = None
        if not seg.per_block:
            opts, suffix = first_options(seg.options) if j == first_seg else (seg.options, "")
            shared_opt = _pick(ch, g, opts, lambda f=first: at(*f)["type"], suffix)
            shared = (shared_opt, _knobs(ch, g, shared_opt, lambda f=first: at(*f)["knobs"]))
        for rr in range(repeat):
            for k in range(counts[j]):
                b = f"{g}.r{rr}.b{k}" if multi else f"{g}.b{k}"
                hint = (lambda rr=rr, j=j, k=k: at(rr, j, k))
                if shared is not None:
                    opt, knobs = shared
                else:
                    opts = seg.sequence[k] if seg.sequence is not None else seg.options
                    opts, suffix = first_options(opts) if (j, rr, k) == (first_seg, 0, 0) else (opts, "")
                    opt = _pick(ch, b, opts, lambda h=hint: h()["type"], suffix)
                    knobs = _knobs(ch, b, opt, lambda h=hint: h()["knobs"])
                w = seg_w
                if seg.seq_widths and seg.seq_widths[k] is not None:
                    w = ch(f"{b}.width", seg.seq_widths[k], lambda h=hint: h()["out"])
                blocks.append((pos[(rr, j, k)], {"type": opt.type, "out": w, "knobs": knobs}))
    ordered = [b for _, b in sorted(blocks, key=lambda t: t[0])]
    out: dict[str, Any] = {"name": p, "downsample": down, "blocks": ordered}
    if st.upsample:
        up_opt = _pick(ch, f"{p}.up", st.upsample, lambda: ref["upsample"]["type"])
        out["upsample"] = {"type": up_opt.type, "knobs": _knobs(ch, f"{p}.up", up_opt, lambda: ref["upsample"]["knobs"])}
    if st.skip is not None:
        out["skip"], out["merge"] = st.skip, st.merge
    return out


def _pick(ch: _Recorder, prefix: str, options: tuple[BlockOption, ...], hint: Callable[[], Any],
          suffix: str = "") -> BlockOption:
    name = ch(f"{prefix}.type{suffix}", [o.type for o in options], hint)
    return next(o for o in options if o.type == name)


def _knobs(ch: _Recorder, prefix: str, opt: BlockOption, hint: Callable[[], dict]) -> dict[str, Any]:
    return {k: ch(f"{prefix}.{opt.type}.{k}", values, lambda k=k: hint().get(k)) for k, values in opt.knobs}


# -------------------------------------------------------------------- layout rules

def attention_shares(space: Space, arch: Arch) -> list[Fraction]:
    return [Fraction(sum(b["type"] in space.attention_types for b in st["blocks"]), max(1, len(st["blocks"])))
            for st in arch.stages]


def rule_violations(space: Space, arch: Arch) -> list[str]:
    """Structural rules (checked without building): attention placement and AsCAN asymmetry."""
    out = []
    k = space.rules.attention_from_stage
    if k is not None:
        for i, st in enumerate(arch.stages[: k - 1]):
            if any(b["type"] in space.attention_types for b in st["blocks"]):
                out.append(f"attention_from_stage: stage {i + 1} has an attention block")
                break
    if space.rules.output_stride is not None:
        d = arch.to_dict()
        red = space.stem.reduction(d["stem"]["type"], d["stem"]["knobs"])
        stride = None if red is None else red * 2.0 ** sum(_arch_step(st) for st in d["stages"])
        if stride != space.rules.output_stride:
            out.append(f"output_stride: the map is reduced {stride if stride is None else f'{stride:g}'} times "
                       f"before the head, not {space.rules.output_stride}")
    if space.rules.asymmetric:
        shares = attention_shares(space, arch)
        for i in range(1, len(shares)):
            if shares[i] < shares[i - 1]:
                out.append(f"asymmetric: attention share falls from stage {i} ({float(shares[i - 1]):.2f}) "
                           f"to stage {i + 1} ({float(shares[i]):.2f})")
                break
    return out


class InfeasibleSpace(UserError):
    """No feasible architecture found within the allowed number of samples."""


@dataclass
class SampleStats:
    tries: int = 0
    rejected: Counter = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.rejected = Counter()

    def explain(self) -> str:
        if not self.rejected:
            return "no candidate was rejected"
        top = ", ".join(f"{rule} ({n}×)" for rule, n in self.rejected.most_common(3))
        return f"rejected {sum(self.rejected.values())} of {self.tries} samples; most by: {top}"


def check_all(space: Space, arch: Arch, check: Check | None) -> str | None:
    v = rule_violations(space, arch)
    if v:
        return v[0].split(":")[0]
    if check is not None:
        return check(arch)
    return None


def sample(space: Space, rng: random.Random, check: Check | None = None, max_tries: int = 2000,
           stats: SampleStats | None = None) -> Arch:
    """A random feasible Arch (rejection sampling); raises ``InfeasibleSpace`` with the reason."""
    stats = stats or SampleStats()
    for _ in range(max_tries):
        stats.tries += 1
        arch, _ = decode(space, RandomChooser(rng))
        why = check_all(space, arch, check)
        if why is None:
            return arch
        stats.rejected[why] += 1
    raise InfeasibleSpace(f"space '{space.name}' ({space.file or 'in memory'}): no feasible architecture in "
                          f"{max_tries} samples; {stats.explain()}. Relax that rule or widen the choices.")


#: at most this many count splits are tried when encoding (a pattern of 40 segments of [1, 2]
#: has C(40, 20) splits of 60 blocks); the decode with the arch's blocks as hints finds the
#: split in the first few for any space where the segments' block types differ.
MAX_ENCODE_SPLITS = 4096


def _count_splits(choices: list[tuple[int, ...]], total: int) -> Iterator[tuple[int, ...]]:
    """Count tuples (one choice per segment) summing to ``total``, without visiting dead ends."""
    lows = [min(c) for c in choices]
    highs = [max(c) for c in choices]
    rest_low = [sum(lows[i:]) for i in range(len(choices) + 1)]
    rest_high = [sum(highs[i:]) for i in range(len(choices) + 1)]
    if not rest_low[0] <= total <= rest_high[0]:
        return
    stack: list[tuple[int, int, tuple[int, ...]]] = [(0, total, ())]
    while stack:
        i, left, prefix = stack.pop()
        if i == len(choices):
            if left == 0:
                yield prefix
            continue
        for c in reversed(choices[i]):
            if rest_low[i + 1] <= left - c <= rest_high[i + 1]:
                stack.append((i + 1, left - c, prefix + (c,)))


def encode(space: Space, arch: Arch) -> dict[str, Any] | None:
    """The decisions that decode to ``arch`` in ``space``, or None if the space cannot make it."""
    ref = arch.to_dict()
    if len(ref.get("stages", [])) != len(space.stages):
        return None
    struct: list[list[tuple[str, Any]]] = []
    for st, rs in zip(space.stages, ref["stages"]):
        combos = []
        for rep in st.repeat:
            blocks = len(rs["blocks"])
            if blocks % rep:
                continue
            for counts in itertools.islice(_count_splits([s.count for s in st.segments], blocks // rep),
                                           MAX_ENCODE_SPLITS):
                combos.append([(f"{st.name}.repeat", rep)] +
                              [(f"{st.name}.g{j}.count", c) for j, c in enumerate(counts)])
        if not combos:
            return None
        struct.append(combos)
    for choice in itertools.islice(itertools.product(*struct), MAX_ENCODE_SPLITS):
        forced = dict(kv for combo in choice for kv in combo)
        rec = _Recorder(_HintChooser(forced))
        try:
            got = _decode(space, rec, ref)
        except (_Mismatch, KeyError, IndexError, TypeError):
            continue
        if got == arch:
            return rec.decisions
    return None


def contains(space: Space, arch: Arch) -> bool:
    """True when the space can produce ``arch`` and its layout rules allow it."""
    a = arch.to_dict()
    s = space.input
    if a.get("input") != s.arch_input():
        return False
    return encode(space, arch) is not None and not rule_violations(space, arch)


class _HintChooser:
    def __init__(self, forced: dict[str, Any]) -> None:
        self.forced = forced

    def choose(self, name: str, options: Sequence[Any]) -> Any:  # pragma: no cover - protocol only
        raise _Mismatch(name)

    def answer(self, name: str, options: Sequence[Any], hint: Callable[[], Any] | None) -> Any:
        value = self.forced[name] if name in self.forced else (hint() if hint else None)
        if value is None or value not in options:
            raise _Mismatch(name)
        return value


def mutate(space: Space, arch: Arch, rng: random.Random, check: Check | None = None,
           max_tries: int = 200) -> Arch:
    """Change one decision of ``arch`` (re-drawing any decisions that change branch)."""
    base = encode(space, arch)
    if base is None:
        raise UserError("cannot mutate an architecture that is not in the space")
    rec = _Recorder(ReplayChooser(base))
    _decode(space, rec, None)
    names = sorted(rec.options)
    if not names:
        return arch
    for _ in range(max_tries):
        name = rng.choice(names)
        others = [v for v in rec.options[name] if v != base[name]]
        decisions = dict(base, **{name: rng.choice(others)})
        child, _ = decode(space, ReplayChooser(decisions, RandomChooser(rng)))
        if child != arch and check_all(space, child, check) is None:
            return child
    return arch


def fixed_arch(space: Space) -> Arch:
    """The single architecture of a space with one point (reference models)."""
    arch, decisions = decode(space, RandomChooser(random.Random(0)))
    if decisions:
        raise UserError(f"space '{space.name}' is not a fixed architecture: it has choices for "
                        f"{', '.join(sorted(decisions)[:5])}...")
    return arch


def decision_options(space: Space, arch: Arch) -> dict[str, tuple[Any, ...]]:
    """The options of each decision that produced ``arch`` (for mutation and importance)."""
    base = encode(space, arch) or {}
    rec = _Recorder(ReplayChooser(base))
    _decode(space, rec, None)
    return rec.options



__all__ = [
    "FIRST_BLOCK_STRIDES",
    "NO_DOWNSAMPLE",
    "Arch",
    "Chooser",
    "InfeasibleSpace",
    "OptunaChooser",
    "RandomChooser",
    "ReplayChooser",
    "SampleStats",
    "attention_shares",
    "check_all",
    "contains",
    "decision_options",
    "decode",
    "encode",
    "fixed_arch",
    "mutate",
    "rule_violations",
    "sample",
]
