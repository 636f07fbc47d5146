"""Draw a run's trials: Pareto front highlighted, dominated trials faded (PNG and interactive HTML).

All numbers come from ``front_data``; the two renderers only draw them.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hynas.results.pareto import hypervolume, pareto_mask, reference_point
from hynas.results.trials import Run

LABELS = {"accuracy": "proxy accuracy (held-out, fraction)", "latency_ms": "latency (ms)",
          "params_m": "parameters (M)", "macs_g": "MACs (G)"}


@dataclass
class FrontData:
    x_name: str
    y_name: str
    xs: list[float]
    ys: list[float]
    on_front: list[bool]
    numbers: list[int]
    hover: list[str]
    hv_by_trial: list[tuple[int, float]]
    latency_method: str


def front_data(run: Run, x: str = "latency_ms", y: str = "accuracy") -> FrontData:
    trials = run.complete()
    objs = run.objectives
    pts = [[t.values[o] for o in objs] for t in trials]
    mask = pareto_mask(pts, run.directions) if pts else []
    ref = reference_point(pts, run.directions) if pts else []
    hv, acc = [], []
    for t, p in zip(trials, pts):
        acc.append(p)
        hv.append((t.number, hypervolume(acc, run.directions, ref)))
    methods = {t.attrs.get("latency_method", "measured") for t in trials}
    hover = []
    for t in trials:
        a = t.attrs
        hover.append(f"trial {t.number} · {t.arch.summary() if t.arch else ''}<br>"
                     f"accuracy {t.values.get('accuracy', float('nan')):.4f} · latency {t.values.get('latency_ms', 0):.3f} ms "
                     f"({a.get('latency_method', 'measured')}) · params {a.get('params', 0) / 1e6:.3f} M · "
                     f"MACs {a.get('macs', 0) / 1e6:.1f} M")
    return FrontData(x, y, [_metric(t, x) for t in trials], [_metric(t, y) for t in trials], [bool(m) for m in mask],
                     [t.number for t in trials], hover, hv, "/".join(sorted(methods)) or "measured")


def _metric(t: Any, name: str) -> float:
    if name in t.values:
        return float(t.values[name])
    a = t.attrs
    return {"params_m": a.get("params", 0) / 1e6, "macs_g": a.get("macs", 0) / 1e9,
            "latency_ms": a.get("latency", {}).get("median_ms", float("nan"))}.get(name, float("nan"))


def _label(name: str, method: str) -> str:
    label = LABELS.get(name, name)
    return f"{label[:-5]}, {method}, ms)" if name == "latency_ms" else label


def render_png(fd: FrontData, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [2, 1]})
    dom = [i for i, f in enumerate(fd.on_front) if not f]
    front = sorted((i for i, f in enumerate(fd.on_front) if f), key=lambda i: fd.xs[i])
    ax.scatter([fd.xs[i] for i in dom], [fd.ys[i] for i in dom], s=22, c="#9aa5b1", alpha=0.45, label="dominated")
    ax.plot([fd.xs[i] for i in front], [fd.ys[i] for i in front], "-o", c="#d1495b", ms=7, lw=1.5,
            label="Pareto front", zorder=3)
    for i in front:
        ax.annotate(f"#{fd.numbers[i]}", (fd.xs[i], fd.ys[i]), textcoords="offset points", xytext=(5, -10),
                    fontsize=8, color="#8a1c2b")
    ax.set_xlabel(_label(fd.x_name, fd.latency_method))
    ax.set_ylabel(_label(fd.y_name, fd.latency_method))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    if fd.hv_by_trial:
        ax2.plot([n for n, _ in fd.hv_by_trial], [h for _, h in fd.hv_by_trial], c="#00798c")
    ax2.set_xlabel("trial number")
    ax2.set_ylabel("hypervolume (all objectives, run's reference point)")
    ax2.grid(alpha=0.3)
    ax2.set_title("hypervolume over trials")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_html(fd: FrontData, path: Path, title: str) -> None:
    """A self-contained interactive page (plotly.js inlined: works offline)."""
    import plotly.graph_objects as go

    def trace(idx: list[int], name: str, color: str, opacity: float, mode: str = "markers") -> Any:
        return go.Scatter(x=[fd.xs[i] for i in idx], y=[fd.ys[i] for i in idx], mode=mode, name=name,
                          marker={"color": color, "size": 9}, opacity=opacity,
                          text=[fd.hover[i] for i in idx], hoverinfo="text")

    dom = [i for i, f in enumerate(fd.on_front) if not f]
    front = sorted((i for i, f in enumerate(fd.on_front) if f), key=lambda i: fd.xs[i])
    fig = go.Figure([trace(dom, "dominated", "#9aa5b1", 0.45), trace(front, "Pareto front", "#d1495b", 1.0,
                                                                     "lines+markers")])
    fig.update_layout(title=html.escape(title), xaxis_title=_label(fd.x_name, fd.latency_method),
                      yaxis_title=_label(fd.y_name, fd.latency_method), template="plotly_white")
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def plot_run(run: Run, out_dir: Path | None = None) -> list[Path]:
    out = Path(out_dir or run.path)
    out.mkdir(parents=True, exist_ok=True)
    fd = front_data(run)
    title = f"{run.meta['config']['space']} on {run.meta['config']['target']}: {len(fd.xs)} candidates"
    paths = [out / "pareto.png", out / "pareto.html"]
    render_png(fd, paths[0], title)
    render_html(fd, paths[1], title)
    (out / "pareto.json").write_text(json.dumps({"front": [n for n, f in zip(fd.numbers, fd.on_front) if f],
                                                  "hypervolume": fd.hv_by_trial[-1][1] if fd.hv_by_trial else 0.0},
                                                 indent=2))
    return paths
