"""Draw a run: accuracy against latency, parameters and MACs, front highlighted, dominated trials
faded, published hybrids as labelled landmarks, hypervolume over trials (PNG and HTML).

All numbers come from ``plot_data``; the two renderers only draw them.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hynas.results.landmarks import Landmark
from hynas.results.pareto import hypervolume, reference_point
from hynas.results.trials import Run, TrialRecord

X_AXES = ("latency_ms", "params_m", "macs_m")
LABELS = {"accuracy": "proxy accuracy (held-out, fraction)", "latency_ms": "latency (ms)",
          "params_m": "parameters (millions)", "macs_m": "MACs (millions of multiply-adds)"}
FRONT, DOMINATED, LANDMARK = "#d1495b", "#9aa5b1", "#2e4057"
MARKERS = "s^Dvp*hX<>"


KIND_STYLE = {  # how each kind of trial is drawn: (legend label, colour, matplotlib marker, filled)
    "dominated": ("dominated trial", DOMINATED, "o", True),
    "infeasible": ("violates a constraint (not in the front)", "#e07a1f", "X", True),
    "pruned": ("pruned at a rung (accuracy when stopped)", "#6c757d", "o", False),
}


@dataclass
class PlotData:
    """Everything the renderers draw: one point per completed or rung-pruned trial, landmarks, hypervolume."""

    title: str
    metrics: list[dict[str, float]]  # per trial: accuracy, latency_ms, params_m, macs_m
    kinds: list[str]  # per trial: front | dominated | infeasible | pruned
    numbers: list[int]
    hover: list[str]
    hv_by_trial: list[tuple[int, float]]
    latency_method: str
    target: str
    hv_unit: str = "accuracy × ms"
    landmarks: list[Landmark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    accuracy_label: str = LABELS["accuracy"]  # what the run's accuracy objective is (proxy name, unit)
    extra: dict[str, str] = field(default_factory=dict)  # objectives no fixed axis shows (shape_sensitivity) -> label

    @property
    def on_front(self) -> list[bool]:
        """Pareto-optimal among the feasible completed trials, for the run's own objectives."""
        return [k == "front" for k in self.kinds]

    def xs(self, name: str, idx: list[int]) -> list[float]:
        return [self.metrics[i][name] for i in idx]

    def of(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == kind]


def trial_metrics(t: TrialRecord) -> dict[str, float]:
    """A trial's four plotted numbers, from its objective values or its recorded attributes.

    A rung-pruned trial has no objective values: its accuracy is the one it stopped at, its
    latency the one measured (or predicted) before training (``pruned_values``; NaN for runs
    that predate it: not drawn on the latency axis), its size comes from the arch.
    """
    a = t.attrs
    base = {"params_m": a.get("params", math.nan) / 1e6, "macs_m": a.get("macs", math.nan) / 1e6,
            "latency_ms": a.get("latency", {}).get("median_ms", math.nan), "accuracy": math.nan}
    if t.kind == "pruned" and t.arch is not None:
        from hynas.cost import analytic_macs, params_fast

        base.update(accuracy=float(a.get("pruned_accuracy", math.nan)), params_m=params_fast(t.arch) / 1e6,
                    macs_m=float(a.get("rung_cost_macs") or analytic_macs(t.arch)) / 1e6)
        pv = a.get("pruned_values") or {}
        if "latency_ms" in pv:
            base["latency_ms"] = float(pv["latency_ms"])
    base.update({k: float(v) for k, v in t.values.items()})
    if "macs_g" in t.values:
        base["macs_m"] = float(t.values["macs_g"]) * 1e3
    return base


def hover_text(t: TrialRecord, m: dict[str, float], acc_name: str = "accuracy", extra: tuple[str, ...] = ()) -> str:
    a = t.attrs
    lat = "not recorded" if math.isnan(m["latency_ms"]) else (
        f"{m['latency_ms']:.3f} ms ({a.get('latency_method', 'measured')})")
    return (f"trial {t.number} · {html.escape(t.outcome())}<br>{html.escape(t.arch.summary() if t.arch else '')}<br>"
            f"{html.escape(acc_name)} {m['accuracy']:.4g} · latency {lat}"
            f"<br>params {m['params_m']:.3f} M · MACs {m['macs_m']:.1f} M"
            + "".join(f"<br>{html.escape(k)} {m[k]:.4g}" for k in extra if k in m))


def plot_data(run: Run, landmarks: list[Landmark] | None = None) -> PlotData:
    done = run.complete()
    front = {t.number for t in run.front()}
    feasible = [t for t in done if t.feasible]
    pts = [[t.values[o] for o in run.objectives] for t in feasible]
    ref = reference_point(pts, run.directions) if pts else []
    hv = [(t.number, hypervolume(pts[: i + 1], run.directions, ref)) for i, t in enumerate(feasible)]
    pruned = [t for t in run.trials if t.kind == "pruned" and "pruned_accuracy" in t.attrs and t.arch is not None]
    trials = done + pruned
    kinds = ["front" if t.number in front else "dominated" if t.kind == "complete" else t.kind for t in trials]
    metrics = [trial_metrics(t) for t in trials]
    methods = sorted({t.attrs.get("latency_method", "measured") for t in done}) or ["measured"]
    cfg = run.meta["config"]
    title = f"{cfg['space']} on {cfg['target']}: {_counts(run)}, proxy {cfg['proxy']}"
    from hynas.search.problems.scorers import SCORERS

    detail = SCORERS.get(cfg["proxy"]).detail(cfg)
    if detail:
        title += f" ({detail} on {cfg['dataset']})"
    if cfg.get("constraints"):
        title += "; constraints " + ", ".join(cfg["constraints"])
    notes = [f"{lm.label}: not drawn ({lm.skipped})" for lm in landmarks or [] if lm.skipped]
    notes += _undrawn(run) + [n.removeprefix("note: ") for n in run.notes()]
    for lm in landmarks or []:
        if "macs_g" in lm.values and "macs_m" not in lm.values:
            lm.values["macs_m"] = lm.values["macs_g"] * 1e3
    from hynas.search.problems.scorers import objective_labels, short_name

    acc = short_name(cfg)
    units = {"accuracy": acc, "latency_ms": "ms", "params_m": "M params", "macs_g": "G MACs",
             "shape_sensitivity": "shape drop", "accuracy_int8": "int8 acc"}
    labels = objective_labels(cfg)
    extra = {o: labels.get(o, o) for o in run.objectives if o not in ("accuracy", "macs_g", *X_AXES)}
    return PlotData(title, metrics, kinds, [t.number for t in trials],
                    [hover_text(t, m, acc, tuple(extra)) for t, m in zip(trials, metrics)], hv, "/".join(methods),
                    cfg["target"], " × ".join(units.get(o, o) for o in run.objectives),
                    [lm for lm in landmarks or [] if not lm.skipped], notes, labels["accuracy"], extra)


def _counts(run: Run) -> str:
    """'8 evaluated (2 complete, 6 pruned at a rung)': what the budget was spent on."""
    from collections import Counter

    c = Counter(t.kind for t in run.trials)
    parts = [f"{c[k]} {name}" for k, name in (("complete", "feasible" if run.meta["config"].get("constraints")
                                                else "complete"), ("infeasible", "infeasible"),
                                               ("pruned", "pruned at a rung"), ("failed", "failed")) if c[k]]
    n = c["complete"] + c["infeasible"] + c["pruned"] + c["failed"]
    return f"{n} evaluated ({', '.join(parts)})" if len(parts) > 1 else f"{n} candidates"


def _undrawn(run: Run) -> list[str]:
    """One line counting the trials no axis can show (no accuracy, or no latency)."""
    from collections import Counter

    c = Counter(t.kind for t in run.trials)
    parts = [f"{c['screened out']} screened out before training (cheap score only)" if c["screened out"] else "",
             f"{c['pruned']} pruned at a rung (drawn on the params/MACs axes only: no latency recorded)"
             if c["pruned"] else "", f"{c['failed']} failed" if c["failed"] else ""]
    parts = [p for p in parts if p]
    return ["Trials not on every axis: " + "; ".join(parts)] if parts else []


def axis_label(name: str, pd: PlotData) -> str:
    if name == "latency_ms":
        return f"latency on {pd.target} (ms, {pd.latency_method}, batch 1)"
    if name == "accuracy":
        return pd.accuracy_label
    return pd.extra.get(name) or LABELS.get(name, name)


def _front_order(pd: PlotData, x: str) -> list[int]:
    """Front indices sorted by x, for one panel's line."""
    return sorted(pd.of("front"), key=lambda i: pd.metrics[i][x])


def _panel(ax: Any, pd: PlotData, x: str, main: bool) -> list[tuple[float, float, str, str]]:
    """Draw one accuracy-vs-x panel; returns the (x, y, text, colour) labels to place once laid out."""
    front = _front_order(pd, x)
    for kind, (label, color, marker, filled) in KIND_STYLE.items():
        idx = [i for i in pd.of(kind) if not math.isnan(pd.metrics[i][x])]
        if idx or (main and pd.of(kind)):
            style = {"c": color, "alpha": 0.55} if filled else {"facecolors": "none", "edgecolors": color}
            ax.scatter(pd.xs(x, idx), pd.xs("accuracy", idx), s=30, marker=marker, label=label, zorder=2, **style)
    # the front is that of the run's objectives: a line on the latency panel, points elsewhere (a line
    # through them on the params/MACs axes would zig-zag and suggest a front those axes do not have)
    ax.plot(pd.xs(x, front), pd.xs("accuracy", front), "-o" if main else "o", c=FRONT, ms=7, lw=1.5,
            label="Pareto front (feasible trials, " + (
                "accuracy vs latency)" if not pd.extra else f"the run's {len(pd.extra) + 2} objectives)"), zorder=3)
    labels = []
    if main:
        labels += [(pd.metrics[i][x], pd.metrics[i]["accuracy"], f"#{pd.numbers[i]}", "#8a1c2b") for i in front]
        labels += [(pd.metrics[i][x], pd.metrics[i]["accuracy"], f"#{pd.numbers[i]}", KIND_STYLE["infeasible"][1])
                   for i in pd.of("infeasible")]
    for k, lm in enumerate(pd.landmarks):
        vx, vy = lm.values.get(x, math.nan), lm.values.get("accuracy", math.nan)
        ax.scatter([vx], [vy], marker=MARKERS[k % len(MARKERS)], s=70 if main else 50, c=LANDMARK,
                   edgecolors="white", linewidths=0.8, zorder=4, label=lm.label)
        labels.append((vx, vy, lm.label.split(" (")[0], LANDMARK))
    if _span(pd, x) > 20:
        ax.set_xscale("log")
        from hynas.results.explore_plots import plain_log_ticks

        plain_log_ticks(ax)
    ax.set_xlabel(axis_label(x, pd))
    ax.set_ylabel(axis_label("accuracy", pd))
    ax.grid(alpha=0.3, which="both")
    return [lb for lb in labels if not (math.isnan(lb[0]) or math.isnan(lb[1]))]


_OFFSETS = ((6, 4), (6, -12), (-8, 6), (-8, -14), (6, 14), (6, -22), (-8, 16), (-8, -24), (0, 26), (0, -32))


def place_labels(ax: Any, labels: list[tuple[float, float, str, str]], fontsize: float = 7.5) -> None:
    """Annotate points without text overlapping text or markers: each label takes the first of a
    few offsets around its point whose box is free (else the first offset), measured by the renderer."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # settle the autoscaled limits: data -> pixel must be final before measuring
    ax.set_ylim(ax.get_ylim())
    import numpy as np

    marks = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]  # every drawn marker
    marks += [ln.get_xydata() for ln in ax.lines if len(ln.get_xydata())]
    pts = ax.transData.transform(np.concatenate(marks)) if marks else []
    taken = [(px - 5, py - 5, px + 5, py + 5) for px, py in pts if np.isfinite(px) and np.isfinite(py)]
    frame = ax.get_window_extent(renderer)

    def free(box: Any) -> bool:
        inside = box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
        return inside and all(box.x1 < b[0] or box.x0 > b[2] or box.y1 < b[1] or box.y0 > b[3] for b in taken)

    for x, y, text, color in sorted(labels, key=lambda lb: -lb[1]):
        spots = []
        for dx, dy in _OFFSETS:  # measured without a leader line: its box is the text's alone
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                              ha="left" if dx >= 0 else "right")
            spots.append(ann.get_window_extent(renderer).frozen())
            ann.remove()
        n = next((k for k, box in enumerate(spots) if free(box)), 0)
        leader = {"arrowprops": {"arrowstyle": "-", "lw": 0.5, "color": color, "alpha": 0.6, "shrinkA": 0,
                                 "shrinkB": 4}} if n else {}
        dx, dy = _OFFSETS[n]
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize, color=color,
                    ha="left" if dx >= 0 else "right", zorder=5, **leader)
        taken.append((spots[n].x0, spots[n].y0, spots[n].x1, spots[n].y1))


def _span(pd: PlotData, x: str) -> float:
    vals = [m[x] for m in pd.metrics] + [lm.values.get(x, math.nan) for lm in pd.landmarks]
    vals = [v for v in vals if not math.isnan(v) and v > 0]
    return max(vals) / min(vals) if vals else 1.0


def render_png(pd: PlotData, path: Path) -> None:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 + len(pd.extra)  # one more row per objective no fixed axis shows
    fig = plt.figure(figsize=(15, 10 + 4.5 * len(pd.extra)))
    grid = fig.add_gridspec(rows, 3, height_ratios=[1.35] + [1] * (rows - 1), width_ratios=[1, 1, 0.85])
    ax = fig.add_subplot(grid[0, :2])
    panels = [(ax, _panel(ax, pd, "latency_ms", main=True), 7.5)]
    ax.set_title(pd.title, fontsize=11)
    side = fig.add_subplot(grid[0, 2])
    side.axis("off")
    handles, names = ax.get_legend_handles_labels()
    lm_names = {lm.label for lm in pd.landmarks}
    trials = [(h, n) for h, n in zip(handles, names) if n not in lm_names]
    marks = [(h, n) for h, n in zip(handles, names) if n in lm_names]
    leg = side.legend(*zip(*trials), loc="upper left", fontsize=8, title="trials of this run", title_fontsize=8.5,
                      alignment="left", frameon=False)
    if marks:
        side.add_artist(leg)
        side.legend(*zip(*marks), loc="upper left", bbox_to_anchor=(0, 0.72), fontsize=8, frameon=False,
                    title="landmarks: published hybrids with the run's\ninput, widths ÷N to the run's size,\n"
                          "scored by the same proxy and target", title_fontsize=8.5, alignment="left")
    for col, x in enumerate(("params_m", "macs_m")):
        axs = fig.add_subplot(grid[1, col])
        panels.append((axs, _panel(axs, pd, x, main=False), 6.5))
        axs.set_title(f"accuracy vs {LABELS[x].split(' (')[0]}", fontsize=10)
    ax_hv = fig.add_subplot(grid[1, 2])
    if pd.hv_by_trial:
        ax_hv.step([n for n, _ in pd.hv_by_trial], [h for _, h in pd.hv_by_trial], where="post", c="#00798c",
                   marker="o", ms=4)
    ax_hv.set_xlabel("trial number (feasible completed trials)")
    ax_hv.set_ylabel(f"hypervolume ({pd.hv_unit})")
    ax_hv.set_title("hypervolume of the trials so far", fontsize=10)
    ax_hv.ticklabel_format(axis="y", useOffset=False)
    ax_hv.grid(alpha=0.3)
    for row, y in enumerate(pd.extra, start=2):
        for col, x in enumerate(("latency_ms", "accuracy")):
            _extra_panel(fig.add_subplot(grid[row, col]), pd, x, y)
    lines = [ln for n in pd.notes for ln in textwrap.wrap(n, 200)][:6]
    if lines:
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="#555555", va="bottom")
    fig.tight_layout(rect=(0, 0.016 * len(lines), 1, 1))
    for axis, labels, size in panels:  # after the layout, so the overlap test sees final positions
        place_labels(axis, labels, size)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _extra_panel(ax: Any, pd: PlotData, x: str, y: str) -> None:
    """An objective no fixed axis shows (``y``, e.g. shape_sensitivity) against latency or accuracy; front in red."""
    for kind, (label, color, marker, filled) in (*KIND_STYLE.items(), ("front", ("Pareto front", FRONT, "o", True))):
        idx = [i for i in pd.of(kind) if not (math.isnan(pd.metrics[i][x]) or math.isnan(pd.metrics[i].get(y, math.nan)))]
        if idx:
            style = {"c": color, "alpha": 0.55 if kind != "front" else 1.0} if filled else {
                "facecolors": "none", "edgecolors": color}
            ax.scatter(pd.xs(x, idx), pd.xs(y, idx), s=30, marker=marker, label=label, zorder=3, **style)
            if kind == "front":
                for i in idx:
                    ax.annotate(f"#{pd.numbers[i]}", (pd.metrics[i][x], pd.metrics[i][y]), textcoords="offset points",
                                xytext=(4, 3), fontsize=6.5, color="#8a1c2b")
    if x == "latency_ms" and _span(pd, x) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(x, pd), fontsize=8)
    ax.set_ylabel(y, fontsize=9)
    ax.set_title(f"{axis_label(y, pd)}\nvs {x}", fontsize=8.5)
    ax.grid(alpha=0.3)


def _html_traces(pd: PlotData, x: str, row: int, col: int, first: bool) -> list[tuple[Any, int, int]]:
    import plotly.graph_objects as go

    front = _front_order(pd, x)
    symbols = {"o": "circle", "X": "x"}

    def pts(idx: list[int], name: str, marker: dict, opacity: float, mode: str) -> Any:
        idx = [i for i in idx if not math.isnan(pd.metrics[i][x])]
        return go.Scatter(x=pd.xs(x, idx), y=pd.xs("accuracy", idx), mode=mode, name=name, legendgroup=name,
                          showlegend=first, marker=dict(size=9, **marker), opacity=opacity,
                          text=[pd.hover[i] for i in idx], hoverinfo="text")

    out = []
    for kind, (label, color, marker, filled) in KIND_STYLE.items():
        if pd.of(kind):
            sym = symbols.get(marker, "circle") + ("" if filled else "-open")
            out.append((pts(pd.of(kind), label, {"color": color, "symbol": sym}, 0.6 if filled else 1.0, "markers"),
                        row, col))
    out.append((pts(front, "Pareto front (feasible trials)", {"color": FRONT}, 1.0, "lines+markers"), row, col))
    for lm in pd.landmarks:
        v = lm.values
        text = (f"<b>{html.escape(lm.label)}</b> (published hybrid, adapted)<br>"
                f"{html.escape(_arch_summary(lm))}<br>accuracy {v['accuracy']:.4f} · latency "
                f"{v['latency_ms']:.3f} ms<br>params {v['params_m']:.3f} M · MACs {v['macs_m']:.1f} M")
        out.append((go.Scatter(x=[v.get(x)], y=[v.get("accuracy")], mode="markers+text", name=lm.label,
                               legendgroup=lm.label, showlegend=first, text=[lm.label.split(" (")[0]],
                               textposition="top right", hovertext=[text], hoverinfo="text",
                               marker={"symbol": "diamond", "size": 11, "color": LANDMARK}), row, col))
    return out


def _arch_summary(lm: Landmark) -> str:
    from hynas.space.arch import Arch

    return Arch(lm.arch).summary() if lm.arch else ""


def render_html(pd: PlotData, path: Path) -> None:
    """A self-contained interactive page (plotly.js inlined: works offline), hover shows each arch."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles = ["accuracy vs latency", "accuracy vs parameters", "accuracy vs MACs", "hypervolume over trials"]
    titles += [f"{y} vs {x}" for y in pd.extra for x in ("latency", "accuracy")]
    fig = make_subplots(rows=2 + len(pd.extra), cols=2, subplot_titles=titles)
    for (x, r, c) in (("latency_ms", 1, 1), ("params_m", 1, 2), ("macs_m", 2, 1)):
        for trace, rr, cc in _html_traces(pd, x, r, c, first=(r, c) == (1, 1)):
            fig.add_trace(trace, row=rr, col=cc)
        fig.update_xaxes(title_text=axis_label(x, pd), row=r, col=c)
        fig.update_yaxes(title_text=axis_label("accuracy", pd), row=r, col=c)
    fig.add_trace(go.Scatter(x=[n for n, _ in pd.hv_by_trial], y=[h for _, h in pd.hv_by_trial], mode="lines",
                             line={"shape": "hv", "color": "#00798c"}, name="hypervolume", showlegend=False),
                  row=2, col=2)
    fig.update_xaxes(title_text="trial number", row=2, col=2)
    fig.update_yaxes(title_text=f"hypervolume ({pd.hv_unit})", row=2, col=2)
    for row, y in enumerate(pd.extra, start=3):
        for col, x in enumerate(("latency_ms", "accuracy"), start=1):
            idx = [i for i in range(len(pd.metrics)) if not math.isnan(pd.metrics[i].get(y, math.nan))]
            fig.add_trace(go.Scatter(x=pd.xs(x, idx), y=pd.xs(y, idx), mode="markers", showlegend=False,
                                     marker={"size": 9, "color": [FRONT if pd.kinds[i] == "front" else DOMINATED
                                                                  for i in idx]},
                                     text=[pd.hover[i] for i in idx], hoverinfo="text"), row=row, col=col)
            fig.update_xaxes(title_text=axis_label(x, pd), row=row, col=col)
            fig.update_yaxes(title_text=y, row=row, col=col)
    note = "<br>".join(html.escape(n) for n in pd.notes)
    fig.update_layout(title=html.escape(pd.title) + (f"<br><sup>{note}</sup>" if note else ""),
                      template="plotly_white", height=900 + 420 * len(pd.extra))
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def plot_run(run: Run, out_dir: Path | None = None, landmarks: list[Landmark] | None = None) -> list[Path]:
    """Write pareto.png, pareto.html and pareto.json (front trial numbers, hypervolume, landmarks)."""
    out = Path(out_dir or run.path)
    out.mkdir(parents=True, exist_ok=True)
    pd = plot_data(run, landmarks)
    paths = [out / "pareto.png", out / "pareto.html", out / "pareto.json"]
    render_png(pd, paths[0])
    render_html(pd, paths[1])
    summary = {"objectives": list(run.objectives), "front": [n for n, f in zip(pd.numbers, pd.on_front) if f],
               "infeasible": [pd.numbers[i] for i in pd.of("infeasible")],
               "pruned": [pd.numbers[i] for i in pd.of("pruned")],
               "hypervolume": pd.hv_by_trial[-1][1] if pd.hv_by_trial else 0.0,
               "landmarks": [{"name": lm.name, "label": lm.label, "divisor": lm.divisor, **lm.values}
                             for lm in pd.landmarks], "notes": pd.notes}
    paths[2].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return paths
