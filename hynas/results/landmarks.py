"""Published hybrids as landmarks on a run's plots, scored exactly like the run's candidates.

A reference model (``search_spaces/reference/*.yaml``, a fixed architecture) is made
comparable to a run in two steps, both stated in the plot legend:

1. its input is set to the run's (resolution, channels, classes: ``Arch.with_input``);
2. its widths are divided by the smallest power of two (1, 2, 4, ...) that brings its
   parameter count under the largest candidate of the run (or the space's ``max_params``
   rule), each width rounded to a multiple of the block's attention head width (so head
   counts stay whole) and of 8.

Depths, block types and knobs are the paper's. A reference that cannot run at the run's
input (e.g. a 7x7 attention window on a 1x1 map) is listed with the reason and not drawn.
The adapted arch is then scored by the run's own evaluator (same proxy, dataset, seed,
training steps and latency target) and the scores are cached in ``landmarks.json`` in the
run directory, keyed by the adapted arch's hash, so replotting costs nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hynas.errors import ArchError, UserError
from hynas.results.trials import Run
from hynas.space.arch import Arch

CACHE_FILE = "landmarks.json"
DIVISORS = (1, 2, 4, 8, 16)
#: the landmarks drawn when none are named, per input kind (each costs one candidate's scoring);
#: ``--landmarks all`` draws every shipped reference of the run's kind
DEFAULT_LANDMARKS = {2: ("nextvit_s", "caformer_s18", "lowformer_b0", "efficientformer_l1", "mobilevit_s"),
                     1: ("clst",), 3: ("pctnet",), "fields": ("hiformer", "autoint_like")}


@dataclass
class Landmark:
    """One reference model adapted to a run: where it sits, or why it is not drawn."""

    name: str
    label: str
    divisor: int = 1
    arch: dict[str, Any] | None = None
    values: dict[str, float] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reference_dir() -> Path:
    from hynas.space import SPACES_DIR

    return SPACES_DIR / "reference"


def reference_dims(path: Path) -> int | str:
    """The input kind a reference file declares (``input.dims``, 2 when absent; ``"fields"`` for feature
    fields), read without validating."""
    from hynas.space.yamlio import read_yaml

    try:
        raw, _ = read_yaml(path)
        if "fields" in raw["input"]:
            return "fields"
        dims = raw["input"].get("dims", 2)
    except Exception:  # noqa: BLE001 - a broken file is reported when it is loaded, not here
        return 2
    return dims if isinstance(dims, int) else 2


def _kind_text(arch: Arch) -> str:
    return "feature-field" if "fields" in arch.input else f"{arch.dims}-D"


def reference_files(names: list[str] | None = None, dims: int | str | None = None) -> list[Path]:
    """The shipped reference YAMLs: those named (file stems), or with ``dims`` the defaults of that
    input kind (``DEFAULT_LANDMARKS``), or every one of that kind when ``names`` is ``["all"]``."""
    files = sorted(reference_dir().glob("*.yaml"))
    if dims is not None and (not names or names == ["all"]):
        files = [p for p in files if reference_dims(p) == dims]
        if not names:
            files = [p for p in files if p.stem in DEFAULT_LANDMARKS.get(dims, ())] or files[:3]
        return files
    if names:
        known = {p.stem: p for p in files}
        missing = [n for n in names if n not in known]
        if missing:
            from hynas.errors import UserError

            raise UserError(f"unknown reference model(s) {', '.join(missing)}. Known: {', '.join(known)}.")
        files = [known[n] for n in names]
    return files


def pretty_name(stem: str) -> str:
    """``caformer_s18`` -> ``CAFormer-S18`` style labels (the paper names where we know them)."""
    special = {"caformer": "CAFormer", "convformer": "ConvFormer", "cvt": "CvT", "efficientmod": "EfficientMod",
               "nextvit": "Next-ViT", "maxvit": "MaxViT", "uniformer": "UniFormer", "lowformer": "LowFormer",
               "convit": "ConViT", "fmvit": "FMViT", "ascan": "AsCAN", "moat": "MOAT",
               "clst": "ClST", "pctnet": "PCT-Net", "autoint": "AutoInt", "hiformer": "Hiformer"}
    if stem == "autoint_like":
        return "AutoInt-like"
    head, _, tail = stem.partition("_")
    tail = {"ti": "Ti"}.get(tail, tail.upper())  # ConViT-Ti, as its paper writes it
    return special.get(head, head.capitalize()) + (f"-{tail}" if tail else "")


def _width_quantum(entry: dict[str, Any]) -> int:
    """Widths must stay multiples of 8 and of the head width / head count a block divides them by."""
    q = 8
    knobs = entry.get("knobs", {})
    for key in ("head_dim", "heads"):
        v = knobs.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            q = math.lcm(q, v)
    return q


def scale_widths(arch: Arch, divisor: int) -> Arch:
    """The arch with every width divided by ``divisor`` and rounded to the block's quantum."""
    if divisor == 1:
        return arch
    d = arch.to_dict()

    def scaled(entry: dict[str, Any]) -> int:
        q = _width_quantum(entry)
        return max(q, round(entry["out"] / divisor / q) * q)

    d["stem"]["out"] = scaled(d["stem"])
    for st in d["stages"]:
        for b in st["blocks"]:
            b["out"] = scaled(b)
    for st in d["stages"]:  # a sum join needs equal widths: both ends take a quantum they share
        if st.get("merge") == "sum":
            src, dst = d["stages"][st["skip"]]["blocks"][-1], st["blocks"][0]
            q = math.lcm(_width_quantum(src), _width_quantum(dst))
            orig = arch.stages[st["skip"]]["blocks"][-1]["out"]
            src["out"] = dst["out"] = max(q, round(orig / divisor / q) * q)
    return Arch(d)


def adapt(arch: Arch, inp: dict[str, int], max_params: float | None) -> tuple[Arch, int]:
    """Arch at the run's input and scaled width; raises ArchError when no divisor gives a runnable net."""
    from hynas.build import block_plan, validate_arch
    from hynas.cost import params_fast

    base = arch.with_input(resolution=inp["resolution"], classes=inp["classes"], channels=inp["channels"])
    validate_arch(base)
    block_plan(base)  # raises ArchError when a block refuses the run's map sizes
    last = None
    for div in DIVISORS:
        cand = scale_widths(base, div)
        last = (cand, div)
        if max_params is None or params_fast(cand) <= max_params:
            return cand, div
    assert last is not None
    return last


def _config(meta: dict[str, Any]) -> Any:
    from hynas.search.config import SearchConfig

    known = {f.name for f in fields(SearchConfig)}
    cfg = {k: v for k, v in meta["config"].items() if k in known}
    for k in ("objectives", "constraints"):
        if k in cfg:
            cfg[k] = tuple(cfg[k])
    return SearchConfig(**cfg)


def _space(meta: dict[str, Any]) -> Any:
    """The run's space as saved in run.json, without global size limits (landmarks are not candidates)."""
    import yaml

    from hynas.space import parse_space
    from hynas.space.spec import Rules

    sp = parse_space(yaml.safe_load(meta["space_yaml"]), name_hint=str(meta["config"]["space"]),
                     text=meta["space_yaml"])
    return replace(sp, rules=Rules(attention_from_stage=sp.rules.attention_from_stage, asymmetric=sp.rules.asymmetric))


def _size_cap(run: Run, space_rules: Any) -> float | None:
    params = [t.attrs.get("params") for t in run.complete() if t.attrs.get("params")]
    if params:
        return float(max(params))
    return space_rules.max_params


def _cache_key(meta: dict[str, Any], arch: Arch) -> str:
    c = meta["config"]
    return (f"{arch.hash}:{c['target']}:{c['dataset']}:{c['proxy']}:{c['train_steps']}:{c['seed']}:{c.get('measure')}"
            f":{c.get('recipe_hash', '')}:{c.get('input_resolution')}")


def load_cache(run_dir: Path) -> dict[str, Any]:
    p = Path(run_dir) / CACHE_FILE
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        return {}


def score_landmarks(run: Run, names: list[str] | None = None,
                    progress: Callable[[str], None] | None = None) -> list[Landmark]:
    """Adapt and score every reference model for ``run`` (cached in the run directory)."""
    from hynas.search.problems.evaluate import Evaluator
    from hynas.space import fixed_arch, load_space

    emit = progress or (lambda msg: None)
    cache = load_cache(run.path)
    raw_space = _space(run.meta)
    # At the size the run's candidates were built and timed at (its recipe's resolution, else the data's).
    inp = {"resolution": run.meta["config"].get("input_resolution") or raw_space.input.resolution,
           "classes": raw_space.input.classes, "channels": raw_space.input.channels}
    dims: int | str = "fields" if raw_space.input.fields else raw_space.input.dims
    cap = _size_cap(run, run_space_rules(run.meta))
    evaluator: Any = None
    out = []
    for path in reference_files(names, dims):
        lm = Landmark(path.stem, pretty_name(path.stem))
        try:
            ref = fixed_arch(load_space(path))
            if ("fields" if "fields" in ref.input else ref.dims) != dims:
                raise ValueError(f"it takes {_kind_text(ref)} inputs and this run's space {dims}"
                                 f"{'' if dims == 'fields' else '-D'} ones")
            arch, lm.divisor = adapt(ref, inp, cap)
        except (ArchError, ValueError, UserError) as e:
            lm.skipped = f"cannot run at the run's input: {e}"
            out.append(lm)
            continue
        lm.arch = arch.to_dict()
        lm.label = f"{lm.label}" + (f" (widths ÷{lm.divisor})" if lm.divisor > 1 else "")
        key = _cache_key(run.meta, arch)
        if key in cache:
            lm.values, lm.attrs = cache[key]["values"], cache[key]["attrs"]
        else:
            emit(f"scoring {lm.label} like a candidate")
            evaluator = evaluator or Evaluator(_config(run.meta), raw_space)
            try:
                ev = evaluator(arch)
            except Exception as e:  # noqa: BLE001 - one reference failing must not hide the others
                lm.skipped = f"failed to score: {type(e).__name__}: {e}"[:300]
                out.append(lm)
                continue
            lm.values, lm.attrs = dict(ev.values), _small_attrs(ev.attrs)
            cache[key] = {"name": lm.name, "values": lm.values, "attrs": lm.attrs}
            (Path(run.path) / CACHE_FILE).write_text(json.dumps(cache, indent=2), encoding="utf-8")
        out.append(lm)
    return out


def run_space_rules(meta: dict[str, Any]) -> Any:
    import yaml

    from hynas.space import parse_space

    return parse_space(yaml.safe_load(meta["space_yaml"]), text=meta["space_yaml"]).rules


def _small_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    keep = ("params", "macs", "latency_method", "train_seconds", "proxy_score", "int8_drop")
    out = {k: attrs[k] for k in keep if k in attrs}
    if "latency" in attrs:
        out["latency"] = {k: attrs["latency"].get(k) for k in ("median_ms", "p10_ms", "p90_ms", "target", "method")}
    return out
