"""An architecture as a readable table (stage by stage, block by block) and as a drawing.

Rows come from ``hynas.build.block_plan`` (the units the network executes, with their input
shapes), so the table, the cost model and the latency predictor all describe one network.
Per-unit params are counted on the unit's module (built by the block contract); MACs are
the block's analytic formula (fvcore convention, held to the traced count by the block
contract tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.space.arch import Arch

ATTENTION, CONV, OTHER = "#e07a5f", "#3d85c6", "#8d99ae"


@dataclass(frozen=True)
class Row:
    """One executed unit, as shown to a user."""

    stage: str  # "stem", "s1", ..., "head"
    role: str
    type: str
    in_ch: int
    out_ch: int
    stride: int
    in_map: str  # "32x32"
    out_map: str
    knobs: str
    params: int
    macs: int
    attention: bool


def _out_hw(unit: Any) -> tuple[int, int]:
    from hynas.blocks import block_class

    if unit.role == "stem":
        red = block_class(unit.type).reduction(**unit.knob_dict())
        return unit.h // red, unit.w // red
    if unit.role == "head":
        return 1, 1
    f = 2 if unit.role == "downsample" or unit.stride == 2 else 1
    return unit.h // f, unit.w // f


def _unit_params(unit: Any) -> int:
    from hynas.blocks import block_class

    cls = block_class(unit.type)
    if unit.role == "body":
        m = cls(unit.in_ch, unit.out_ch, unit.stride, **unit.knob_dict())
    else:
        m = cls(unit.in_ch, unit.out_ch, **unit.knob_dict())
    return int(sum(p.numel() for p in m.parameters()))


def knob_text(knobs: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return ("y" if v else "n") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k}={fmt(v)}" for k, v in sorted(knobs.items()))


def arch_rows(arch: Arch, resolution: int | None = None) -> list[Row]:
    """The table of an arch at its (or the given) input resolution."""
    from hynas.blocks import catalog
    from hynas.build import block_plan, validate_arch

    validate_arch(arch)
    cat = catalog()
    names = [st.get("name", f"s{i + 1}") for i, st in enumerate(arch.stages)]
    rows = []
    for u in block_plan(arch, resolution):
        stage = "stem" if u.stage < 0 else "head" if u.stage >= len(names) else names[u.stage]
        oh, ow = _out_hw(u)
        rows.append(Row(stage, u.role, u.type, u.in_ch, u.out_ch, u.stride, f"{u.h}x{u.w}", f"{oh}x{ow}",
                        knob_text(u.knob_dict()), _unit_params(u), u.macs(), cat[u.type].attention))
    return rows


def rows_text(rows: list[Row]) -> str:
    """A fixed-width table with totals (what ``hynas show`` prints)."""
    head = ("stage", "role", "block", "in→out ch", "stride", "map in→out", "params", "MACs (M)", "knobs")
    body = [(r.stage, r.role, r.type + (" *" if r.attention else ""), f"{r.in_ch}→{r.out_ch}", str(r.stride),
             f"{r.in_map}→{r.out_map}", f"{r.params:,}", f"{r.macs / 1e6:.2f}", r.knobs) for r in rows]
    body.append(("total", "", "", "", "", "", f"{sum(r.params for r in rows):,}",
                 f"{sum(r.macs for r in rows) / 1e6:.2f}", "(* attention; params per unit, class tokens excluded)"))
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    lines.insert(1, "-" * min(150, len(lines[0])))
    return "\n".join(lines)


def draw_arch(arch: Arch, path: Path, title: str = "", resolution: int | None = None) -> Path:
    """One column per stage (stem and head included), one box per unit, colour by kind, PNG or SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows = arch_rows(arch, resolution)
    stages: list[str] = []
    for r in rows:
        if r.stage not in stages:
            stages.append(r.stage)
    depth = max(sum(1 for r in rows if r.stage == s) for s in stages)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.3 * len(stages)), 1.2 + 0.62 * depth + 0.8))
    for col, s in enumerate(stages):
        units = [r for r in rows if r.stage == s]
        ax.text(col + 0.5, 0.35, f"{s}\n{units[0].in_map} → {units[-1].out_map}", ha="center", va="center",
                fontsize=9, fontweight="bold")
        for k, r in enumerate(units):
            color = ATTENTION if r.attention else OTHER if r.role in ("stem", "head", "downsample") else CONV
            y = 0.8 + 0.62 * k
            ax.add_patch(FancyBboxPatch((col + 0.06, y), 0.88, 0.52, boxstyle="round,pad=0.01,rounding_size=0.05",
                                        fc=color, ec="white", alpha=0.9))
            label = f"{r.type} {r.out_ch}" + (" /2" if r.stride == 2 or r.role == "downsample" else "")
            ax.text(col + 0.5, y + 0.18, label, ha="center", va="center", fontsize=8, color="white",
                    fontweight="bold")
            ax.text(col + 0.5, y + 0.38, f"{_human(r.params)} params · {_human(r.macs)} MACs", ha="center",
                    va="center", fontsize=6.5, color="white")
    ax.set_xlim(0, len(stages))
    ax.set_ylim(0.8 + 0.62 * depth + 0.1, 0)
    ax.axis("off")
    ax.set_title(title or arch.summary(), fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, fc=c) for c in (CONV, ATTENTION, OTHER)]
    ax.legend(handles, ["conv block", "attention block", "stem / downsample / head"], loc="lower center",
              bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _human(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def resolve_arch(ref: str) -> tuple[Arch, str]:
    """An arch from a JSON file, a ``RUN_DIR:trialN`` reference, or a fixed space YAML; with a caption."""
    head, sep, tail = ref.rpartition(":")
    if sep and tail.startswith("trial") and Path(head, "run.json").is_file():
        from hynas.results.trials import load_run

        try:
            n = int(tail[len("trial"):])
        except ValueError:
            raise UserError(f"'{ref}': expected RUN_DIR:trialN with N a number.") from None
        run = load_run(head)
        for t in run.trials:
            if t.number == n and t.arch is not None:
                return t.arch, f"trial {n} of {head} ({t.state.lower()})"
        raise UserError(f"'{ref}': no trial {n} with an architecture in {head}.")
    from hynas.space import fixed_arch, load_space

    p = Path(ref)
    if p.suffix == ".json":
        if not p.is_file():
            raise UserError(f"{p}: file not found.")
        try:
            return Arch.from_json(p.read_text(encoding="utf-8")), ref
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"{p}: not a JSON arch ({e}).") from None
    return fixed_arch(load_space(ref)), ref
