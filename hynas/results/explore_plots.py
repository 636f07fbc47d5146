"""Draw and tabulate the design-space analysis (numbers from ``hynas.results.explore``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hynas.results.explore import BlockPoint, Sampled, edf

COLORS = ("#d1495b", "#00798c", "#edae49", "#30638e", "#66a182", "#8d96a3", "#2e4057", "#b56576")


def _median(xs: list[float]) -> float:
    ys = sorted(x for x in xs if not math.isnan(x))
    if not ys:
        return math.nan
    return ys[len(ys) // 2] if len(ys) % 2 else 0.5 * (ys[len(ys) // 2 - 1] + ys[len(ys) // 2])


def edf_table(samples: list[Sampled]) -> list[dict[str, Any]]:
    """Per space: sample count, median/best accuracy signal, median/fastest latency, median size."""
    rows = []
    for s in samples:
        rows.append({"space": s.label, "n": len(s.archs), "refused at this input": s.refused,
                     "failed": len(s.failures),
                     "accuracy signal": s.accuracy_name,
                     "median accuracy signal": _median(s.accuracy), "best accuracy signal": max(s.accuracy, default=math.nan),
                     "median latency_ms": _median(s.latency_ms), "fastest latency_ms": min(s.latency_ms, default=math.nan),
                     "latency method": s.latency_method, "median params_m": _median(s.params) / 1e6,
                     "median macs_m": _median(s.macs) / 1e6})
    return rows


def block_table(points: list[BlockPoint]) -> list[dict[str, Any]]:
    """Per block type: ms per GMAC at each matched MAC level (the LowFormer comparison)."""
    rows = []
    for t in sorted({p.type for p in points}):
        pts = [p for p in points if p.type == t]
        rows.append({"block": t, "family": pts[0].family, "attention": pts[0].attention,
                     **{f"ms/GMAC @~{p.level_macs / 1e6:.0f}M MACs": p.latency_ms / (p.macs / 1e9) for p in pts}})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v) if v is not None else ""

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def importance_rows(imp: dict[str, dict[str, dict[str, float]]], top: int = 8) -> list[dict[str, Any]]:
    """Flatten {source: {objective: {knob: importance}}} to the top knobs per source and objective."""
    rows = []
    for source, per_obj in imp.items():
        for obj, ranks in per_obj.items():
            for k, (knob, v) in enumerate(sorted(ranks.items(), key=lambda kv: -kv[1])[:top]):
                rows.append({"space or run": source, "objective": obj, "rank": k + 1, "decision": knob,
                             "fANOVA importance": v})
    return rows


def plain_log_ticks(ax: Any) -> None:
    """Log axes labelled 0.2, 0.5, 1, 2 ... instead of 2x10^-1 (reads as numbers, not exponents)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())


def render_edf_png(samples: list[Sampled], path: Path, target: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))
    for k, s in enumerate(samples):
        c = COLORS[k % len(COLORS)]
        xs, fs = edf(s.accuracy)
        a1.step(xs, fs, where="post", c=c, lw=1.8, label=f"{s.label} (n={len(s.archs)})")
        xs, fs = edf(s.latency_ms)
        a2.step(xs, fs, where="post", c=c, lw=1.8, label=f"{s.label} ({s.latency_method})")
    names = sorted({s.accuracy_name for s in samples})
    a1.set_xlabel(f"accuracy signal: {', '.join(names)} (higher is better)")
    a1.set_ylabel("fraction of sampled archs ≤ x (EDF)")
    a1.set_title("accuracy signal EDF: a curve further right = a better space", fontsize=10)
    a2.set_xlabel(f"latency on {target} (ms, batch 1)")
    a2.set_xscale("log")
    a2.set_ylabel("fraction of sampled archs ≤ x (EDF)")
    a2.set_title("latency EDF: a curve further left = a faster space", fontsize=10)
    for a in (a1, a2):
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize=8, loc="lower right")
        a.set_ylim(0, 1.02)
        plain_log_ticks(a)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_blocks_png(points: list[BlockPoint], path: Path, target: str, map_size: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for k, t in enumerate(sorted({p.type for p in points})):
        pts = sorted((p for p in points if p.type == t), key=lambda p: p.macs)
        style = "--" if pts[0].attention else "-"
        ax.plot([p.macs / 1e6 for p in pts], [p.latency_ms for p in pts], style, marker="o", c=COLORS[k % len(COLORS)],
                label=f"{t} ({pts[0].family}{', attention' if pts[0].attention else ''})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"MACs of one block at a {map_size}x{map_size} map (millions)")
    ax.set_ylabel(f"latency on {target} (ms, batch 1, measured)")
    ax.set_title("same MACs, different latency: block families on this device", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    plain_log_ticks(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_html(samples: list[Sampled], points: list[BlockPoint], path: Path, target: str) -> Path:
    """One interactive page: the two EDFs and the block latency plot (plotly.js inlined)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("accuracy signal EDF", f"latency EDF ({target})",
                                                        "block latency vs MACs"))
    for k, s in enumerate(samples):
        c = COLORS[k % len(COLORS)]
        for col, vals in ((1, s.accuracy), (2, s.latency_ms)):
            xs, fs = edf(vals)
            fig.add_trace(go.Scatter(x=xs, y=fs, mode="lines", line={"shape": "hv", "color": c}, name=s.label,
                                     legendgroup=s.label, showlegend=col == 1), row=1, col=col)
    for k, t in enumerate(sorted({p.type for p in points})):
        pts = sorted((p for p in points if p.type == t), key=lambda p: p.macs)
        fig.add_trace(go.Scatter(x=[p.macs / 1e6 for p in pts], y=[p.latency_ms for p in pts], mode="lines+markers",
                                 name=t, text=[f"{t} width {p.width}" for p in pts]), row=1, col=3)
    fig.update_xaxes(type="log", row=1, col=2, title_text="latency (ms)")
    fig.update_xaxes(type="log", row=1, col=3, title_text="MACs (M)")
    fig.update_yaxes(type="log", row=1, col=3, title_text="latency (ms)")
    fig.update_xaxes(title_text="accuracy signal", row=1, col=1)
    fig.update_yaxes(title_text="EDF", row=1, col=1)
    fig.update_layout(template="plotly_white", height=520)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def write_all(out: Path, samples: list[Sampled], imp: dict[str, Any], points: list[BlockPoint], *, target: str,
              map_size: int) -> tuple[list[Path], str]:
    """Write figures, explore.md (the tables) and explore.json; return the paths and the tables' text."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if samples:
        paths.append(render_edf_png(samples, out / "edf.png", target))
    if points:
        paths.append(render_blocks_png(points, out / "block_latency.png", target, map_size))
    paths.append(render_html(samples, points, out / "explore.html", target))
    text = "## Spaces (EDF summary)\n\n" + markdown(edf_table(samples))
    text += "\n## Knob importance (fANOVA, per objective)\n\n" + markdown(importance_rows(imp))
    text += f"\n## Block latency at matched MACs ({map_size}x{map_size} map, {target})\n\n" + markdown(block_table(points))
    (out / "explore.md").write_text(text, encoding="utf-8")
    data = {"spaces": [{"label": s.label, "accuracy_name": s.accuracy_name, "accuracy": s.accuracy,
                        "latency_ms": s.latency_ms, "params": s.params, "macs": s.macs,
                        "latency_method": s.latency_method, "archs": [a.hash for a in s.archs],
                        "failures": s.failures} for s in samples],
            "importance": imp, "blocks": [asdict(p) for p in points]}
    (out / "explore.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return paths + [out / "explore.md", out / "explore.json"], text
