"""Arch -> torch model, with the arch validated and every map size checked first.

``block_plan`` lists the units the network executes (stem, each downsample, each block,
head) with their input shapes: the builder, the analytic cost model and the latency
predictor all read the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from hynas.blocks import block_class, catalog
from hynas.blocks.net import HybridNet
from hynas.errors import ArchError
from hynas.space.arch import Arch
from hynas.space.catalog import DIMS, DIMS_TEXT, MERGES, NAME_RE, RESERVED_DOWNSAMPLE


@dataclass(frozen=True)
class Unit:
    """One executed unit: a block at its input shape."""

    role: str
    type: str
    in_ch: int
    out_ch: int
    stride: int
    h: int
    w: int
    knobs: tuple[tuple[str, Any], ...]
    stage: int  # -1 for stem, len(stages) for head
    dims: int = 2  # 1: h is the length L and w is 1
    fields: tuple[tuple[str, str, int], ...] = ()  # a field-embedding stem: the schema it embeds
    stem_ch: int = 0  # a head that reads the stem's output (separation masks): the stem's width

    def knob_dict(self) -> dict[str, Any]:
        return dict(self.knobs)

    def shape(self, batch: int = 1) -> tuple[int, ...]:
        """The unit's input tensor shape: (batch, in_ch, L) for 1-D, (batch, in_ch, h, w) for images,
        (batch, in_ch, h, h, w) for volumes (cubes: depth = h), (batch, columns) for a field-embedding stem."""
        if self.fields:
            return (batch, self.in_ch)
        if self.dims == 3:
            return (batch, self.in_ch, self.h, self.h, self.w)
        return (batch, self.in_ch, self.h) if self.dims == 1 else (batch, self.in_ch, self.h, self.w)

    def positions(self, stride: int = 1) -> int:
        """Positions of the unit's map (input, or output at ``stride``): L, h*w, or d*h*w."""
        h, w = self.h // stride, self.w // stride  # floor, as the predictor's features always counted
        return h if self.dims == 1 else h * w * (h if self.dims == 3 else 1)

    def build_kwargs(self) -> dict[str, Any]:
        """Constructor keywords beyond the role's positional ones: the knobs, and the schema for a field stem."""
        kw = self.knob_dict()
        if self.fields:
            kw["fields"] = [list(f) for f in self.fields]
        if self.stem_ch:
            kw["stem_ch"] = self.stem_ch
        return kw

    def map_text(self) -> str:
        if self.dims == 3:
            return f"{self.h}x{self.h}x{self.w}"
        return f"L{self.h}" if self.dims == 1 else f"{self.h}x{self.w}"

    def macs(self) -> int:
        kw = self.build_kwargs() | ({"dims": 3} if self.dims == 3 else {})  # a 3-D unit's depth is h
        return int(block_class(self.type).macs(self.in_ch, self.out_ch, self.stride, self.h, self.w, **kw))


def validate_arch(arch: Arch) -> None:
    """Check an Arch read from anywhere (a run, a file) against the registry: names, roles, knob values.

    Generated code and models are built only from archs that pass this check.
    """
    d = arch.to_dict()
    cat = catalog()

    def check(entry: Any, role: str, where: str) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ArchError(f"arch {where}: missing block type")
        t = entry["type"]
        if role == "downsample" and t in RESERVED_DOWNSAMPLE:
            return
        if not NAME_RE.match(t) or t not in cat or cat[t].role != role:
            raise ArchError(f"arch {where}: '{t}' is not a registered {role} block")
        if d["input"].get("dims", 2) not in cat[t].dims:
            raise ArchError(f"arch {where}: block '{t}' runs on {DIMS_TEXT[cat[t].dims[0]]} inputs, not on this "
                            f"arch's {DIMS_TEXT[d['input'].get('dims', 2)]} input")
        knobs = entry.get("knobs", {})
        if not isinstance(knobs, dict) or set(knobs) != set(cat[t].knobs):
            raise ArchError(f"arch {where}: block '{t}' needs exactly the knobs {sorted(cat[t].knobs)}")
        for k, v in knobs.items():
            why = cat[t].knobs[k].check(v)
            if why:
                raise ArchError(f"arch {where}.knobs.{k}: {why} Allowed: {cat[t].knobs[k].allowed_text()}")
        if "out" in entry and (not isinstance(entry["out"], int) or isinstance(entry["out"], bool)
                               or not 1 <= entry["out"] <= 8192):
            raise ArchError(f"arch {where}.out: width must be an integer in 1..8192")

    try:
        inp = d["input"]
        for k in ("channels", "resolution", "classes"):
            if not isinstance(inp[k], int) or isinstance(inp[k], bool) or inp[k] < 1:
                raise ArchError(f"arch input.{k} must be a positive integer")
        dims = inp.get("dims", 2)
        if dims not in DIMS or isinstance(dims, bool) or set(inp) - {"channels", "resolution", "classes", "dims",
                                                                     "fields"}:
            raise ArchError(f"arch input: dims must be one of {DIMS} and the only keys channels, resolution, "
                            "classes, dims, fields")
        if "fields" in inp:
            _check_fields(inp)
        check(d["stem"], "stem", "stem")
        if cat[d["stem"]["type"]].fields != ("fields" in inp):
            raise ArchError("arch stem: a feature-field input takes a field-embedding stem, and only it does")
        for i, st in enumerate(d["stages"]):
            check(st["downsample"], "downsample", f"stages[{i}].downsample")
            if "upsample" in st:
                check(st["upsample"], "upsample", f"stages[{i}].upsample")
            _check_join(st, i)
            if not st["blocks"]:
                raise ArchError(f"arch stages[{i}] has no blocks")
            for j, b in enumerate(st["blocks"]):
                check(b, "body", f"stages[{i}].blocks[{j}]")
            if "name" in st and not (isinstance(st["name"], str) and NAME_RE.match(st["name"])):
                raise ArchError(f"arch stages[{i}].name is not a valid name")
        check(d["head"], "head", "head")
    except (KeyError, TypeError) as e:
        raise ArchError(f"arch is malformed (missing {e})") from None


def _check_fields(inp: dict) -> None:
    """Feature fields: [name, "cat" | "dense", size] each, adding up to the input's columns and tokens."""
    fields = inp["fields"]
    ok = isinstance(fields, list) and fields and all(
        isinstance(f, list) and len(f) == 3 and isinstance(f[0], str) and NAME_RE.match(f[0])
        and f[1] in ("cat", "dense") and isinstance(f[2], int) and not isinstance(f[2], bool)
        and 1 <= f[2] <= (1 << 24) for f in fields)
    if not ok or len({f[0] for f in fields}) != len(fields):
        raise ArchError("arch input.fields must be distinct [name, 'cat' | 'dense', size] entries")
    cols = sum(1 if k == "cat" else w for _, k, w in fields)
    if inp["channels"] != cols or inp["resolution"] != len(fields) or inp.get("dims") != 1:
        raise ArchError(f"arch input: {len(fields)} fields make {cols} columns and {len(fields)} tokens (dims 1); "
                        f"the input says channels {inp['channels']}, resolution {inp['resolution']}")


def _check_join(st: dict, i: int) -> None:
    """A decoder stage: an ``upsample`` block (and no downsample), a ``skip`` to an earlier stage, a merge."""
    if "upsample" in st and st["downsample"]["type"] != "none":
        raise ArchError(f"arch stages[{i}]: a stage either downsamples or upsamples, not both")
    if "skip" in st or "merge" in st:
        skip = st.get("skip")
        if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip < i:
            raise ArchError(f"arch stages[{i}].skip must be the index of an earlier stage (0..{i - 1})")
        if st.get("merge") not in MERGES:
            raise ArchError(f"arch stages[{i}].merge must be one of {MERGES}")


def block_plan(arch: Arch, resolution: int | None = None) -> list[Unit]:
    """The executed units with their input shapes; raises ArchError for a map a unit refuses.

    A 1-D arch's units carry the length as ``h`` and 1 as ``w``: downsampling halves only ``h``.
    """
    d = arch.to_dict()
    res = resolution or d["input"]["resolution"]
    dims = arch.dims
    h, w = res, (1 if dims == 1 else res)
    units: list[Unit] = []

    def add(role: str, entry: dict, in_ch: int, out_ch: int, stride: int, stage: int) -> None:
        cls = block_class(entry["type"])
        knobs = entry["knobs"]
        check = getattr(cls, "check_map", None)
        why = check(h, w, stride, **knobs) if check else None
        if why:
            shown = f"length-{h} signal" if dims == 1 else f"{h}x{h}x{w} volume" if dims == 3 else f"{h}x{w} map"
            raise ArchError(f"{_where(stage, len(d['stages']))} block '{entry['type']}' refuses the {shown} "
                            f"at input {'length' if dims == 1 else 'resolution'} {res}: {why}")
        fields = tuple(tuple(f) for f in d["input"].get("fields", ())) if role == "stem" else ()
        units.append(Unit(role, entry["type"], in_ch, out_ch, stride, h, w, tuple(sorted(knobs.items())), stage,
                          dims, fields))

    def reduce(factor: int, where: str) -> tuple[int, int]:
        return _halve(h, factor, res, where, dims), (w if dims == 1 else _halve(w, factor, res, where, dims))

    stem = d["stem"]
    add("stem", stem, d["input"]["channels"], stem["out"], 1, -1)
    h, w = reduce(block_class(stem["type"]).reduction(**stem["knobs"]), "stem")
    c = stem["out"]
    outs: list[tuple[int, int, int]] = []  # each stage's output (channels, h, w), for skips
    for i, st in enumerate(d["stages"]):
        dtype = st["downsample"]["type"]
        first_stride = 1
        if dtype == "block":
            first_stride = 2
        elif dtype != "none":
            add("downsample", st["downsample"], c, st["blocks"][0]["out"], 2, i)
            c = st["blocks"][0]["out"]
            h, w = reduce(2, f"stage {i + 1}")
        if "upsample" in st:
            add("upsample", st["upsample"], c, st["blocks"][0]["out"], 1, i)
            c = st["blocks"][0]["out"]
            h, w = 2 * h, (w if dims == 1 else 2 * w)
        if "skip" in st:
            c = _joined(outs[st["skip"]], (c, h, w), st, i, dims)
        for j, b in enumerate(st["blocks"]):
            s = first_stride if j == 0 else 1
            add("body", b, c, b["out"], s, i)
            if s == 2:
                h, w = reduce(2, f"stage {i + 1}")
            c = b["out"]
        outs.append((c, h, w))
    add("head", d["head"], c, d["input"]["classes"], 1, len(d["stages"]))
    hcls = block_class(d["head"]["type"])
    if getattr(hcls, "takes_stem", False):
        units[-1] = replace(units[-1], stem_ch=stem["out"])
        hop, red = hcls.stem_stride(**d["head"]["knobs"]), block_class(stem["type"]).reduction(**stem["knobs"])
        if hop != red or h != res // red:
            raise ArchError(f"head '{d['head']['type']}' decodes with hop {hop} from a length-{h} body output, but the "
                            f"stem '{stem['type']}' encodes with stride {red} to length {res // red}: they must match")
    scale = getattr(hcls, "dense_scale", None)
    if scale is not None and h * scale(**d["head"]["knobs"]) != res:
        k = scale(**d["head"]["knobs"])
        raise ArchError(f"head '{d['head']['type']}': the last map is {h} wide, x{k} gives {h * k}, but dense "
                        f"outputs must come back to the input's {res} (decoder stages upsample, scale covers the rest)")
    return units


def _joined(src: tuple[int, int, int], here: tuple[int, int, int], st: dict, i: int, dims: int) -> int:
    """Channels after joining stage ``st["skip"]``'s output; ArchError when the two cannot merge."""
    (sc, sh, sw), (c, h, w) = src, here
    if (sh, sw) != (h, w):
        shown = (lambda a, b: f"length {a}") if dims == 1 else (lambda a, b: f"{a}x{b}")
        raise ArchError(f"stage {i + 1} joins stage {st['skip'] + 1}'s output ({shown(sh, sw)}) to its input "
                        f"({shown(h, w)}): the extents differ")
    if st["merge"] == "sum" and sc != c:
        raise ArchError(f"stage {i + 1} adds stage {st['skip'] + 1}'s output ({sc} channels) to its input "
                        f"({c} channels): merge sum needs equal widths (or use merge concat)")
    return c + sc if st["merge"] == "concat" else c


def _halve(size: int, factor: int, res: int, where: str, dims: int = 2) -> int:
    if size % factor or size // factor < 1:
        if dims == 1:
            raise ArchError(f"{where}: a length-{size} signal cannot be reduced by {factor} (input length {res}); "
                            f"use a length (input.length, or --resolution) divisible by the network's total stride")
        raise ArchError(f"{where}: a {size}x{size} map cannot be reduced by {factor} (input resolution {res}); "
                        f"use a resolution divisible by the network's total stride")
    return size // factor


def _where(stage: int, n: int) -> str:
    return "stem" if stage < 0 else "head" if stage >= n else f"stage {stage + 1}"


def build_model(arch: Arch, resolution: int | None = None) -> nn.Module:
    """Build the torch model of an arch; refuses (ArchError) a resolution the arch cannot run at."""
    validate_arch(arch)
    block_plan(arch, resolution)
    d = arch.to_dict()
    blocks = {t: block_class(t) for t in _types(d)}
    return HybridNet(d, blocks)


def _types(d: dict) -> set[str]:
    names = {d["stem"]["type"], d["head"]["type"]}
    for st in d["stages"]:
        names.add(st["downsample"]["type"])
        if "upsample" in st:
            names.add(st["upsample"]["type"])
        names.update(b["type"] for b in st["blocks"])
    return names - set(RESERVED_DOWNSAMPLE)
