"""YAML -> validated ``Space``. Every problem is a ``SpecError`` naming file, field and allowed values.

Grammar (see docs/DSL.md): a space has ``name``, ``input``, ``stem``, ``stages``, ``head``
and optional ``rules``. Wherever a list of choices is expected a single value is accepted,
and integer choices may be written ``{range: [low, high]}`` or ``{range: [low, high, step]}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hynas.errors import SpecError
from hynas.space.catalog import (
    DIMS_TEXT,
    FIRST_BLOCK_STRIDES,
    MERGES,
    NAME_RE,
    NO_DOWNSAMPLE,
    RESERVED_DOWNSAMPLE,
    Catalog,
    default_catalog,
    short_repr,
)
from hynas.space.spec import (
    BlockOption,
    InputSpec,
    Rules,
    Segment,
    Space,
    StageSpec,
    StemSpec,
    reachable_levels,
    stage_steps,
    stride_level,
)
from hynas.space.yamlio import read_yaml

LIMITS = {"count": 64, "repeat": 16, "stages": 12, "width": 8192, "resolution": 2048, "length": 1 << 20,
          "volume": 512, "classes": 100_000, "channels": 4096, "choices": 256, "fields": 256}
TOP_KEYS = ("name", "description", "input", "stem", "stages", "head", "rules")


def load_space(path: str | Path, catalog: Catalog | None = None) -> Space:
    """Load and validate a space file (a path, or the name of a shipped space)."""
    p = resolve_space_path(path)
    raw, text = read_yaml(p)
    try:
        return parse_space(raw, catalog, name_hint=p.stem, file=str(p), text=text)
    except SpecError as e:
        raise e.located(str(p)) from None


def resolve_space_path(path: str | Path) -> Path:
    p = Path(path)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(path):
        return p
    from hynas.space import shipped_spaces

    known = shipped_spaces()
    if str(path) in known:
        return known[str(path)]
    raise SpecError(f"no such file and no shipped space named '{path}'.", allowed=sorted(known))


def parse_space(raw: Any, catalog: Catalog | None = None, *, name_hint: str = "space", file: str = "",
                text: str = "") -> Space:
    top = _mapping(raw, "", TOP_KEYS, required=("input", "stem", "stages", "head"))
    inp = _input(top["input"], "input")
    cat = DimsCatalog(catalog if catalog is not None else default_catalog(), inp.dims)
    rules = _rules(top.get("rules"), "rules")
    stages_raw = top["stages"]
    if not isinstance(stages_raw, list) or not stages_raw:
        raise SpecError("must be a non-empty list of stages.", path="stages")
    if len(stages_raw) > LIMITS["stages"]:
        raise SpecError(f"{len(stages_raw)} stages; at most {LIMITS['stages']}.", path="stages")
    if rules.attention_from_stage is not None and rules.attention_from_stage > len(stages_raw):
        raise SpecError(f"stage {rules.attention_from_stage} does not exist (the space has "
                        f"{len(stages_raw)} stages).", path="rules.attention_from_stage",
                        allowed=f"1..{len(stages_raw)}")
    stages: list[StageSpec] = []
    for i, s in enumerate(stages_raw):
        stages.append(_stage(s, f"stages[{i}]", i, cat, rules, tuple(stages)))
        if stages[-1].name in [st.name for st in stages[:-1]]:
            raise SpecError(f"stage name '{stages[-1].name}' is used twice.", path=f"stages[{i}].name")
    _check_skips(tuple(stages))
    name = top.get("name", name_hint)
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or not _utf8(name):
        raise SpecError("must be a short text (1..100 printable characters).", path="name")
    desc = top.get("description", "")
    if not isinstance(desc, str) or not _utf8(desc):
        raise SpecError("must be text.", path="description")
    stem = _stem(top["stem"], cat)
    _check_relations(tuple(stages), stages_raw, stem, inp, cat)
    if rules.output_stride is not None:
        _check_output_stride(stem, tuple(stages), rules.output_stride, cat)
    if inp.dims == 1 and not inp.fields:
        _check_length(stem, tuple(stages), inp.resolution, cat)
    for o in stem.options:
        if cat[o.type].fields != bool(inp.fields):
            raise SpecError(f"stem '{o.type}' " + ("does not embed feature fields; this input has fields." if inp.fields
                            else "embeds feature fields, but this input has none."), path=f"stem.blocks.{o.type}",
                            allowed=sorted(n for n, i in cat.items() if i.role == "stem" and i.fields == bool(inp.fields)
                                           and inp.dims in i.dims))
    return Space(name=name, file=file, input=inp, stem=stem,
                 stages=tuple(stages), head=_options(_blocks_node(top["head"], "head"), "head", "head", cat),
                 rules=rules, description=desc, raw=text,
                 attention_types=frozenset(n for n, i in cat.items() if i.attention),
                 stride_types=frozenset(n for n, i in cat.items() if i.can_stride))


# ---------------------------------------------------------------- small validators

def _mapping(node: Any, path: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(node, dict):
        raise SpecError(f"must be a mapping, got {_kind(node)}.", path=path or "(top level)")
    for k in node:
        if k not in keys:
            raise SpecError(f"unknown key '{k}'.", path=_join(path, str(k)), allowed=keys)
    for k in required:
        if k not in node:
            raise SpecError("is missing.", path=_join(path, k), allowed=f"a value for '{k}'")
    return node


def _int(node: Any, path: str, low: int, high: int) -> int:
    if not isinstance(node, int) or isinstance(node, bool):
        raise SpecError(f"must be an integer, got {_kind(node)}.", path=path, allowed=f"{low}..{high}")
    if not low <= node <= high:
        raise SpecError(f"{short_repr(node)} is out of range.", path=path, allowed=f"{low}..{high}")
    return node


def _number(node: Any, path: str) -> float:
    if isinstance(node, str):  # YAML 1.1 reads 2.0e6 (no exponent sign) as text
        try:
            node = float(node)
        except ValueError:
            raise SpecError(f"must be a positive number, got {short_repr(node)}.", path=path) from None
    if (not isinstance(node, (int, float)) or isinstance(node, bool) or node <= 0
            or (isinstance(node, int) and node.bit_length() > 1000) or not math.isfinite(node)):
        raise SpecError(f"must be a positive finite number, got {short_repr(node)}.", path=path,
                        allowed="a number in (0, 1e300]")
    return float(node)


def _int_choices(node: Any, path: str, low: int, high: int) -> tuple[int, ...]:
    values = _choice_list(node, path)
    out = tuple(_int(v, f"{path}[{i}]" if len(values) > 1 else path, low, high) for i, v in enumerate(values))
    return tuple(sorted(set(out)))


def _choice_list(node: Any, path: str) -> list[Any]:
    if isinstance(node, dict):
        _mapping(node, path, ("range",), required=("range",))
        r = node["range"]
        if (not isinstance(r, list) or len(r) not in (2, 3)
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in r)):
            raise SpecError("must be [low, high] or [low, high, step] of integers.", path=f"{path}.range")
        step = r[2] if len(r) == 3 else 1
        if step < 1 or r[1] < r[0]:
            raise SpecError("needs low <= high and step >= 1.", path=f"{path}.range")
        n = (r[1] - r[0]) // step + 1  # counted before building: [1, 10**12] must not allocate a huge list
        if n > LIMITS["choices"]:
            raise SpecError(f"{n} choices; at most {LIMITS['choices']}.", path=f"{path}.range")
        values = list(range(r[0], r[1] + 1, step))
    elif isinstance(node, list):
        values = node
    else:
        values = [node]
    if not values:
        raise SpecError("is an empty list of choices; give at least one value.", path=path)
    if len(values) > LIMITS["choices"]:
        raise SpecError(f"{len(values)} choices; at most {LIMITS['choices']}.", path=path)
    return values


def _input(node: Any, path: str) -> InputSpec:
    """``dims`` (1, 2 or 3; 2 when absent) and the extent: ``length`` for 1-D, ``resolution`` otherwise;
    or ``fields`` (feature-field tokens)."""
    if isinstance(node, dict) and "fields" in node:
        return _fields_input(node, path)
    m = _mapping(node, path, ("dims", "channels", "resolution", "length", "classes"),
                 required=("channels", "classes"))
    dims = _int(m.get("dims", 2), f"{path}.dims", 1, 3) if "dims" in m else 2
    extent, other = ("length", "resolution") if dims == 1 else ("resolution", "length")
    if other in m:
        raise SpecError(f"a {DIMS_TEXT[dims]} input gives its extent as '{extent}', not '{other}'.",
                        path=f"{path}.{other}", allowed=extent)
    if extent not in m:
        raise SpecError("is missing.", path=f"{path}.{extent}", allowed=f"a value for '{extent}'")
    high = LIMITS["length"] if dims == 1 else LIMITS["resolution"] if dims == 2 else LIMITS["volume"]
    return InputSpec(channels=_int(m["channels"], f"{path}.channels", 1, LIMITS["channels"]),
                     resolution=_int(m[extent], f"{path}.{extent}", 8, high),
                     classes=_int(m["classes"], f"{path}.classes", 2, LIMITS["classes"]), dims=dims)


MAX_VOCAB = 1 << 24  # ids travel as float32 columns, exact up to 2**24


def _fields_input(node: dict, path: str) -> InputSpec:
    """``fields: [{name, vocab} | {name, dense}, ...]`` and ``classes``: one token per field (dims 1)."""
    m = _mapping(node, path, ("fields", "classes", "dims"), required=("fields", "classes"))
    if m.get("dims", 1) != 1:
        raise SpecError("feature fields are a sequence of tokens: dims is 1 (or left out).", path=f"{path}.dims",
                        allowed=1)
    raw = m["fields"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= LIMITS["fields"]:
        raise SpecError(f"must be a list of 1..{LIMITS['fields']} fields.", path=f"{path}.fields")
    out: list[tuple[str, str, int]] = []
    for i, f in enumerate(raw):
        p = f"{path}.fields[{i}]"
        fm = _mapping(f, p, ("name", "vocab", "dense"), required=("name",))
        name = fm["name"]
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise SpecError(f"{short_repr(name)} is not a valid field name.", path=f"{p}.name",
                            allowed="lower-case letters, digits and _ (starting with a letter)")
        if name in [o[0] for o in out]:
            raise SpecError(f"field '{name}' is listed twice.", path=f"{p}.name")
        if ("vocab" in fm) == ("dense" in fm):
            raise SpecError("a field is categorical (vocab: its number of ids) or dense (dense: its width).",
                            path=p, allowed=("vocab", "dense"))
        if "vocab" in fm:
            out.append((name, "cat", _int(fm["vocab"], f"{p}.vocab", 2, MAX_VOCAB)))
        else:
            out.append((name, "dense", _int(fm["dense"], f"{p}.dense", 1, LIMITS["channels"])))
    cols = sum(1 if k == "cat" else w for _, k, w in out)
    if cols > LIMITS["channels"]:
        raise SpecError(f"{cols} input columns; at most {LIMITS['channels']}.", path=f"{path}.fields")
    return InputSpec(channels=cols, resolution=len(out), dims=1, fields=tuple(out),
                     classes=_int(m["classes"], f"{path}.classes", 2, LIMITS["classes"]))


class DimsCatalog(dict):
    """The catalog as seen by a space of one input kind: ``dims`` rides along for the block check."""

    def __init__(self, cat: Catalog, dims: int) -> None:
        super().__init__(cat)
        self.dims = dims


def _check_dims(info: Any, path: str, cat: Catalog) -> None:
    dims = getattr(cat, "dims", 2)
    if dims not in info.dims:
        runs = " and ".join(DIMS_TEXT[d] for d in info.dims)
        raise SpecError(f"block '{info.name}' runs on {runs} inputs, but this space's input is "
                        f"{DIMS_TEXT[dims]} (input.dims: {dims}).", path=path,
                        allowed=_role_names(cat, info.role))


def _rules(node: Any, path: str) -> Rules:
    if node is None:
        return Rules()
    m = _mapping(node, path, ("attention_from_stage", "asymmetric", "max_params", "max_macs", "min_params",
                              "max_activation_mb", "output_stride"))
    asym = m.get("asymmetric", False)
    if not isinstance(asym, bool):
        raise SpecError(f"must be true or false, got {asym!r}.", path=f"{path}.asymmetric", allowed=(True, False))
    afs = m.get("attention_from_stage")
    rules = Rules(
        attention_from_stage=None if afs is None else _int(afs, f"{path}.attention_from_stage", 1,
                                                           LIMITS["stages"]),
        asymmetric=asym,
        max_params=_number(m["max_params"], f"{path}.max_params") if "max_params" in m else None,
        max_macs=_number(m["max_macs"], f"{path}.max_macs") if "max_macs" in m else None,
        min_params=_number(m["min_params"], f"{path}.min_params") if "min_params" in m else None,
        max_activation_mb=(_number(m["max_activation_mb"], f"{path}.max_activation_mb")
                           if "max_activation_mb" in m else None),
        output_stride=_int(m["output_stride"], f"{path}.output_stride", 1, 1 << 20) if "output_stride" in m else None,
    )
    if rules.min_params and rules.max_params and rules.min_params > rules.max_params:
        raise SpecError(f"min_params {rules.min_params:g} is above max_params {rules.max_params:g}; "
                        "no architecture can satisfy both.", path=f"{path}.min_params")
    return rules


def _stem(node: Any, cat: Catalog) -> StemSpec:
    m = _mapping(node, "stem", ("width", "blocks"), required=("width", "blocks"))
    options = _options(m["blocks"], "stem.blocks", "stem", cat)
    return StemSpec(width=_int_choices(m["width"], "stem.width", 1, LIMITS["width"]), options=options,
                    reductions=tuple((o.type, cat[o.type].reduction) for o in options))


def _blocks_node(node: Any, path: str) -> Any:
    if isinstance(node, dict) and set(node) == {"blocks"}:
        return node["blocks"]
    return node


STAGE_KEYS = ("name", "width", "downsample", "upsample", "skip", "merge", "depth", "blocks", "per_block", "pattern",
              "repeat", "sequence")
SEGMENT_KEYS = ("count", "width", "blocks", "per_block", "sequence")


def _stage(node: Any, path: str, index: int, cat: Catalog, rules: Rules,
           earlier: tuple[StageSpec, ...] = ()) -> StageSpec:
    m = _mapping(node, path, STAGE_KEYS, required=("width",))
    forms = [k for k in ("blocks", "pattern", "sequence") if k in m]
    if len(forms) != 1:
        raise SpecError("a stage needs exactly one of 'blocks' (with 'depth'), 'pattern' or 'sequence'.",
                        path=path, allowed=("blocks", "pattern", "sequence"))
    drop_attn = rules.attention_from_stage is not None and index + 1 < rules.attention_from_stage
    if forms[0] == "pattern":
        if "depth" in m:
            raise SpecError("'depth' goes with 'blocks'; a pattern sets its counts per segment.", path=f"{path}.depth")
        pat = m["pattern"]
        if not isinstance(pat, list) or not pat:
            raise SpecError("must be a non-empty list of segments.", path=f"{path}.pattern")
        segments = tuple(_segment(s, f"{path}.pattern[{j}]", cat, drop_attn) for j, s in enumerate(pat))
        repeat = _int_choices(m.get("repeat", 1), f"{path}.repeat", 1, LIMITS["repeat"])
    else:
        if "repeat" in m:
            raise SpecError("'repeat' goes with 'pattern'.", path=f"{path}.repeat")
        seg = {k: m[k] for k in ("blocks", "per_block", "sequence") if k in m}
        if forms[0] == "blocks":
            if "depth" not in m:
                raise SpecError("is missing.", path=f"{path}.depth", allowed="an integer or a list of depths")
            seg["count"] = m["depth"]
        segments = (_segment(seg, path, cat, drop_attn, count_key="depth"),)
        repeat = (1,)
    if min(repeat) * sum(min(s.count) for s in segments) < 1:
        raise SpecError("every choice must leave the stage at least one block.", path=path)
    upsample: tuple[BlockOption, ...] = ()
    if "upsample" in m:
        if m.get("downsample", NO_DOWNSAMPLE) != NO_DOWNSAMPLE:
            raise SpecError("a stage either downsamples or upsamples, not both.", path=f"{path}.downsample",
                            allowed=f"{NO_DOWNSAMPLE!r} or no 'downsample' beside 'upsample'")
        upsample = _options(m["upsample"], f"{path}.upsample", "upsample", cat)
    skip, merge = _skip(m, path, earlier)
    down_raw = m.get("downsample", NO_DOWNSAMPLE if index == 0 or upsample else None)
    if down_raw is None:
        raise SpecError("is missing.", path=f"{path}.downsample",
                        allowed=f"{NO_DOWNSAMPLE!r}, {FIRST_BLOCK_STRIDES!r} or a downsample block")
    downsample = _options(down_raw, f"{path}.downsample", "downsample", cat)
    if any(opt.type == FIRST_BLOCK_STRIDES for opt in downsample):
        _check_first_strides(segments, downsample, path, cat)
    name = m.get("name", f"s{index + 1}")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{name!r} is not a valid stage name.", path=f"{path}.name",
                        allowed="lower-case letters, digits and _")
    return StageSpec(name=name, width=_int_choices(m["width"], f"{path}.width", 1, LIMITS["width"]),
                     downsample=downsample, repeat=repeat, segments=segments, upsample=upsample, skip=skip,
                     merge=merge)


def _check_first_strides(segments: tuple[Segment, ...], downsample: tuple[BlockOption, ...], path: str,
                         cat: Catalog) -> None:
    """Downsample ``block`` strides the stage's first block. Alone, every first block must be able to; beside
    other downsample kinds, the first block is drawn among those that can when ``block`` is drawn, so one
    that can suffices (the others open the stage after the other kinds)."""
    firsts = segments[0].sequence[0] if segments[0].sequence else segments[0].options
    can = [o.type for o in firsts if cat[o.type].can_stride]
    bad = [o.type for o in firsts if not cat[o.type].can_stride]
    if bad and (len(downsample) == 1 or not can):
        also = "" if len(downsample) == 1 else " (none of the first blocks can, so 'block' could never be drawn)"
        raise SpecError(f"downsample '{FIRST_BLOCK_STRIDES}' needs a first block that can stride; "
                        f"{', '.join(bad)} cannot{also}.", path=f"{path}.downsample",
                        allowed=sorted(n for n, i in cat.items() if i.role == "body" and i.can_stride
                                       and getattr(cat, "dims", 2) in i.dims)[:40])


def _check_output_stride(stem: StemSpec, stages: tuple[StageSpec, ...], stride: int, cat: Catalog) -> None:
    """Every stem choice must reach ``rules.output_stride`` with some downsample choices of the stages."""
    levels = reachable_levels(stages)[0]
    possible = sorted({r * 2 ** k if k >= 0 else r // 2 ** -k for r in _stem_factors(stem, cat) for k in levels
                       if r and (k >= 0 or r % 2 ** -k == 0)})
    for o in stem.options:
        red = cat[o.type].reduction
        if red is None:
            raise SpecError(f"stem '{o.type}' does not declare its reduction, so rules.output_stride cannot be "
                            "checked.", path=f"stem.blocks.{o.type}")
        for r in (o.knob_dict()[red] if isinstance(red, str) else (red,)):
            k = stride_level(stride, r)
            if k is None or k not in levels:
                where = f"stem.blocks.{o.type}" + (f".{red}" if isinstance(red, str) else "")
                raise SpecError(f"rules.output_stride is {stride}, but stem '{o.type}' reduces by {r} and the "
                                f"stages' downsample choices halve the map {sorted(levels)} times after it, "
                                f"which never makes {stride}.", path=where,
                                allowed=f"rules.output_stride in {possible[:20]}, or other stem/downsample choices")


def _segment_paths(raw: dict, path: str, st: StageSpec) -> list[tuple[Segment, str, list[str]]]:
    """Each segment with the YAML path of its blocks (one path per sequence position)."""
    out = []
    for j, seg in enumerate(st.segments):
        base = f"{path}.pattern[{j}]" if "pattern" in raw else path
        if seg.sequence is not None:
            out.append((seg, base, [f"{base}.sequence[{k}]" for k in range(len(seg.sequence))]))
        else:
            out.append((seg, base, [f"{base}.blocks"]))
    return out


def _check_relations(stages: tuple[StageSpec, ...], raw: list, stem: StemSpec, inp: InputSpec, cat: Catalog) -> None:
    """Knob values that can never fit the block's place: a head count or head width that divides none of the
    block's widths, a window that tiles none of the maps it can see, a patch larger than every such map.

    Maps are those at the space's resolution (every stem and downsample choice); a value that fits some width
    or map choice is kept, and a sampled arch of another choice is left to the block (TinyViT and FastViT lower
    the head count to a divisor of the width, TinyViT pads the map, MobileViT takes 1x1 patches)."""
    reds = [r for o in stem.options for r in _option_reductions(o, cat)]
    maps = None if inp.dims != 2 or None in reds else {inp.resolution // r for r in reds if inp.resolution % r == 0}
    for i, (st, st_raw) in enumerate(zip(stages, raw)):
        if maps is not None:
            steps = stage_steps(st)
            maps = ({m // 2 for m in maps if m % 2 == 0 and m >= 2} if 1 in steps else set()) | (
                set(maps) if 0 in steps else set()) | ({2 * m for m in maps} if -1 in steps else set())
        for seg, base, paths in _segment_paths(st_raw, f"stages[{i}]", st):
            for k, p in enumerate(paths):
                opts = seg.sequence[k] if seg.sequence is not None else seg.options
                width = (seg.seq_widths[k] if seg.seq_widths and seg.seq_widths[k] else None) or seg.width or st.width
                for o in opts:
                    _check_option(o, f"{p}.{o.type}", set(width), maps, inp.resolution, cat)


def _check_option(o: BlockOption, path: str, widths: set[int], maps: set[int] | None, res: int, cat: Catalog) -> None:
    for name, values in o.knobs:
        knob = cat[o.type].knobs[name]
        if knob.relation is None or (knob.relation != "divides_width" and not maps):
            continue
        fits = {"divides_width": lambda v: any(w % v == 0 for w in widths),
                "tiles_map": lambda v: any(m % v == 0 for m in maps),
                "within_map": lambda v: any(v <= m for m in maps)}[knob.relation]
        for v in values:
            if isinstance(v, int) and v > 0 and fits(v):
                continue
            span = list(knob.choices) if knob.choices else range(int(knob.low or 1), int(knob.high or 1) + 1)
            ok = [c for c in span if isinstance(c, int) and c > 0 and fits(c)]
            shown = ", ".join(f"{m}x{m}" for m in sorted(maps or ()))
            why = {"divides_width": f"{short_repr(v)} divides none of the block's widths {sorted(widths)}",
                   "tiles_map": f"window {short_repr(v)} tiles none of the maps the block sees ({shown} at input "
                                f"resolution {res})",
                   "within_map": f"{short_repr(v)} is larger than every map the block sees ({shown} at input "
                                 f"resolution {res})"}[knob.relation]
            raise SpecError(why + ".", path=f"{path}.{name}" + (f"[{values.index(v)}]" if len(values) > 1 else ""),
                            allowed=ok or "no value of this knob fits; change the widths or the resolution")


def _option_reductions(o: BlockOption, cat: Catalog) -> list[int | None]:
    red = cat[o.type].reduction
    return list(o.knob_dict()[red]) if isinstance(red, str) else [red]


def deepest_halvings(stages: tuple[StageSpec, ...]) -> int:
    """The most times any choice of downsample/upsample stages halves the map below the stem's output
    at any point of the network (a U-Net path counts its bottom, not its net level)."""
    states = {(0, 0)}  # (level now, deepest level so far)
    for st in stages:
        states = {(lv + k, max(peak, lv + k)) for lv, peak in states for k in stage_steps(st)}
    return max(peak for _, peak in states)


def _check_length(stem: StemSpec, stages: tuple[StageSpec, ...], length: int, cat: Catalog) -> None:
    """A 1-D space whose input.length some stem and downsample choices cannot reduce is refused here,
    naming the lengths that fit, instead of failing every such candidate when it is built."""
    halvings = deepest_halvings(stages)
    need = {(o.type, r): r * 2**halvings for o in stem.options for r in _option_reductions(o, cat) if r}
    if not need:
        return
    lcm = math.lcm(*need.values())
    bad = [(t, r, m) for (t, r), m in need.items() if length % m]
    if bad:
        t, r, m = bad[0]
        raise SpecError(f"is {length}, but stem '{t}' reduces by {r} and the stages' downsample choices can halve "
                        f"it {halvings} more times: a total reduction of {m}, which does not divide "
                        f"{length}.", path="input.length",
                        allowed=f"a multiple of {lcm} (e.g. {length + (-length) % lcm}), or fewer downsample choices")


def _stem_factors(stem: StemSpec, cat: Catalog) -> list[int]:
    out = []
    for o in stem.options:
        red = cat[o.type].reduction
        out += list(o.knob_dict()[red]) if isinstance(red, str) else [red] if red else []
    return out


def _skip(m: dict, path: str, earlier: tuple[StageSpec, ...]) -> tuple[int | None, str]:
    """``skip: <earlier stage name>`` and ``merge: sum|concat`` (a U-Net / decoder join)."""
    if "skip" not in m:
        if "merge" in m:
            raise SpecError("'merge' says how a skip joins; add 'skip: <earlier stage>' or drop it.",
                            path=f"{path}.merge")
        return None, "sum"
    names = [s.name for s in earlier]
    if m["skip"] not in names:
        raise SpecError(f"{short_repr(m['skip'])} is not an earlier stage.", path=f"{path}.skip",
                        allowed=names or "no stage (the first stage has none before it)")
    merge = m.get("merge", "sum")
    if merge not in MERGES:
        raise SpecError(f"{short_repr(merge)} is not a merge.", path=f"{path}.merge", allowed=MERGES)
    return names.index(m["skip"]), merge


def _scale(st: StageSpec) -> int | None:
    """The stage's fixed change of extent as a power of 2 (+1 halves, -1 doubles), None when a choice varies it."""
    if st.upsample:
        return -1
    steps = {0 if o.type == NO_DOWNSAMPLE else 1 for o in st.downsample}
    return steps.pop() if len(steps) == 1 else None


def _ratio(level: int) -> str:
    return f"1/{2 ** level}" if level >= 0 else f"{2 ** -level}x"


def _check_skips(stages: tuple[StageSpec, ...]) -> None:
    """A skip must join an output of the same extent (and, merged by sum, the same width)."""
    level: list[int | None] = []
    for i, st in enumerate(stages):
        prev = level[-1] if level else 0
        step = _scale(st)
        level.append(None if prev is None or step is None else prev + step)
        if st.skip is None:
            continue
        src = stages[st.skip]
        if level[-1] is not None and level[st.skip] is not None and level[-1] != level[st.skip]:
            raise SpecError(f"joins stage '{src.name}', whose output is at {_ratio(level[st.skip])} of the stem's "
                            f"extent, but this stage's input is at {_ratio(level[-1])}.", path=f"stages[{i}].skip",
                            allowed=[s.name for s, lv in zip(stages, level) if lv == level[-1] and s is not st])
        if st.merge == "sum" and not set(src.width) <= set(st.width):
            raise SpecError(f"merge sum adds stage '{src.name}' (widths {list(src.width)}) to this stage's input, "
                            f"so this stage's widths must include them; got {list(st.width)}.",
                            path=f"stages[{i}].width", allowed=list(src.width))


def _segment(node: Any, path: str, cat: Catalog, drop_attn: bool, count_key: str = "count") -> Segment:
    m = _mapping(node, path, SEGMENT_KEYS if count_key == "count" else SEGMENT_KEYS + ("depth",))
    width = _int_choices(m["width"], f"{path}.width", 1, LIMITS["width"]) if "width" in m else None
    per_block = m.get("per_block", False)
    if not isinstance(per_block, bool):
        raise SpecError(f"must be true or false, got {per_block!r}.", path=f"{path}.per_block")
    if "sequence" in m:
        if "blocks" in m or "count" in m:
            raise SpecError("a sequence lists its blocks; do not add 'blocks' or a count.", path=path)
        seq = m["sequence"]
        if not isinstance(seq, list) or not seq or len(seq) > LIMITS["count"]:
            raise SpecError(f"must be a list of 1..{LIMITS['count']} blocks.", path=f"{path}.sequence")
        opts, widths = [], []
        for k, el in enumerate(seq):
            p = f"{path}.sequence[{k}]"
            if isinstance(el, dict) and "blocks" in el:
                em = _mapping(el, p, ("blocks", "width"), required=("blocks",))
                widths.append(_int_choices(em["width"], f"{p}.width", 1, LIMITS["width"]) if "width" in em
                              else None)
                opts.append(_filter_attn(_options(em["blocks"], f"{p}.blocks", "body", cat), p, cat, drop_attn))
            else:
                widths.append(None)
                opts.append(_filter_attn(_options(el, p, "body", cat), p, cat, drop_attn))
        return Segment(count=(len(seq),), width=width, options=(), per_block=True, sequence=tuple(opts),
                       seq_widths=tuple(widths))
    if "blocks" not in m:
        raise SpecError("is missing.", path=f"{path}.blocks", allowed="a mapping of block type to knob choices")
    if "count" not in m:
        raise SpecError("is missing.", path=f"{path}.{count_key}", allowed="an integer or a list")
    count = _int_choices(m["count"], f"{path}.{count_key}", 0, LIMITS["count"])
    options = _filter_attn(_options(m["blocks"], f"{path}.blocks", "body", cat), path, cat, drop_attn)
    return Segment(count=count, width=width, options=options, per_block=per_block)


def _filter_attn(options: tuple[BlockOption, ...], path: str, cat: Catalog, drop: bool) -> tuple[BlockOption, ...]:
    if not drop:
        return options
    kept = tuple(o for o in options if not cat[o.type].attention)
    if not kept:
        raise SpecError("allows only attention blocks, but rules.attention_from_stage keeps attention out of "
                        "this stage.", path=path)
    return kept


def _options(node: Any, path: str, role: str, cat: Catalog) -> tuple[BlockOption, ...]:
    """Parse block choices: a name, a list of names, or a mapping name -> {knob: choices}."""
    if isinstance(node, str):
        items: list[tuple[str, Any]] = [(node, None)]
    elif isinstance(node, list) and node and all(isinstance(n, str) for n in node):
        items = [(n, None) for n in node]
    elif isinstance(node, dict) and node:
        items = list(node.items())
    else:
        raise SpecError(f"must name at least one block (a name, a list of names, or a mapping of name to "
                        f"knobs), got {_kind(node)}.", path=path, allowed=_role_names(cat, role))
    seen, out = set(), []
    for name, knobs in items:
        p = _join(path, str(name))
        if not isinstance(name, str):
            raise SpecError(f"block names are text, got {name!r}.", path=path, allowed=_role_names(cat, role))
        if name in seen:
            raise SpecError("is listed twice.", path=p)
        seen.add(name)
        if role == "downsample" and name in RESERVED_DOWNSAMPLE:
            if knobs not in (None, {}):
                raise SpecError("takes no knobs.", path=p)
            out.append(BlockOption(name, ()))
            continue
        info = cat.get(name)
        if info is None or info.role != role:
            raise SpecError(f"unknown {role} block '{name}'.", path=p, allowed=_role_names(cat, role))
        _check_dims(info, p, cat)
        out.append(BlockOption(name, _knobs(knobs, p, info)))
    return tuple(out)


def _knobs(node: Any, path: str, info: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise SpecError(f"knobs must be a mapping of knob to choices, got {_kind(node)}.", path=path,
                        allowed=sorted(info.knobs) or "no knobs")
    result = []
    for k in node:
        if k not in info.knobs:
            raise SpecError(f"unknown knob '{k}' for block '{info.name}'.", path=_join(path, str(k)),
                            allowed=sorted(info.knobs) or "no knobs")
    for k, spec in sorted(info.knobs.items()):
        if k not in node:
            result.append((k, (spec.default,)))
            continue
        values = _choice_list(node[k], _join(path, k))
        checked = []
        for i, v in enumerate(values):
            why = spec.check(v)
            if why:
                raise SpecError(why, path=_join(path, k) + (f"[{i}]" if len(values) > 1 else ""),
                                allowed=spec.allowed_text())
            checked.append(float(v) if spec.kind == "float" else v)
        uniq = tuple(dict.fromkeys(checked))
        result.append((k, uniq))
    return tuple(result)


def _role_names(cat: Catalog, role: str) -> list[str]:
    dims = getattr(cat, "dims", None)
    names = sorted(n for n, i in cat.items() if i.role == role and (dims is None or dims in i.dims))
    return (list(RESERVED_DOWNSAMPLE) + names) if role == "downsample" else names


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: printing it would fail later
        return False
    return True


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(node: Any) -> str:
    return "nothing" if node is None else f"{type(node).__name__} {short_repr(node)}"[:80]


