"""One self-contained HTML page per run: config, budget spent, Pareto table, plots, the chosen
architecture drawn block by block, and the commands that reproduce it.

Images are embedded as base64 so the file can be mailed or attached to an issue as is.
"""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hynas.results.landmarks import Landmark
from hynas.results.trials import Run, TrialRecord

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;
text-align:left}th{background:#f2f2f2}img{max-width:100%}pre{background:#f6f8fa;padding:.8em;overflow-x:auto;
font-size:12px}code{background:#f6f8fa}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}"""


def reproduce_command(meta: dict[str, Any]) -> tuple[str, bool]:
    """(the `hynas search` command line of this run, recorded?): the one run.json recorded when the
    search was started from the CLI, else one rebuilt from the recorded config."""
    if meta.get("command"):
        return str(meta["command"]), True
    c = meta["config"]
    parts = ["hynas search", f"--space {c['space']}", f"--target {c['target']}", f"--budget {c['budget']}",
             f"--sampler {c['sampler']}", f"--seed {c['seed']}", f"--run-dir {c['run_dir']}",
             f"--dataset {c['dataset']}", f"--proxy {c['proxy']}", f"--train-steps {c['train_steps']}"]
    if c.get("time_budget_s"):
        parts.append(f"--time-budget {int(c['time_budget_s'])}s")
    if c.get("storage"):
        parts.append(f"--storage {c['storage']}")
    if "params_m" in c.get("objectives", []):
        parts.append("--params-objective")
    if not c.get("table"):  # the CLI default is the predictor where one exists: say which one this run used
        parts.append("--measure" if c.get("measure", True) else "--predict")
    parts += [f"--constraint '{k}'" for k in c.get("constraints", [])]
    if c.get("screen", 1) > 1:
        parts.append(f"--screen {c['screen']}")
    if c.get("prune"):
        parts.append("--prune")
    return " ".join(parts), False


def reproduce_text(run: Run, pick: str) -> str:
    """The 'how to reproduce' block: the search command (recorded or rebuilt), then the export."""
    cmd, recorded = reproduce_command(run.meta)
    where = f"  (from {run.meta['cwd']})" if recorded and run.meta.get("cwd") else ""
    head = "# the command that started this run" if recorded else (
        "# rebuilt from run.json's config (no command line recorded: a library call or an older hynas)")
    return f"{head}{where}\n{cmd}\nhynas export {run.path} --pick {pick} --out model.py"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}">'


def budget_section(run: Run) -> str:
    kinds = Counter(t.kind for t in run.trials)
    rows = [[k, n] for k, n in sorted(kinds.items())]
    rules = Counter((t.reason or "").split(":")[0] for t in run.trials if t.kind == "rejected")
    failed = [[phase, cls, n, example] for phase, cls, n, example in run.failures()]
    secs = sum(float(t.attrs.get("train_seconds", 0)) + float(t.attrs.get("latency_seconds", 0)) for t in run.trials)
    c = run.meta["config"]
    text = (f"<p>Budget: {c['budget']} evaluated candidates"
            + (f", time budget {c['time_budget_s']:.0f} s" if c.get("time_budget_s") else "")
            + f". Measured work (training + latency) recorded on trials: {secs:.0f} s.</p>")
    legend = ("<p>complete: trained and scored; infeasible: scored but violates a constraint; pruned: training "
              "stopped at a rung; screened out: lost the cheap pre-training screen (no training); rejected / "
              "duplicate: refused before any work.</p>")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in run.notes())
    return text + _table(["outcome", "trials"], rows) + legend + notes + (
        f"<p>Failed: {sum(f[2] for f in failed)} trials, by phase and error:</p>"
        + _table(["phase", "error", "trials", "example"], failed) if failed else "") + (
        "<p>Rejected, by rule:</p>" + _table(["rule", "trials"], [[r or "-", n] for r, n in sorted(rules.items())])
        if rules else "")


def _row(t: TrialRecord, constrained: bool, extra: tuple[str, ...] = ()) -> list[Any]:
    from hynas.results.plots import trial_metrics

    m = trial_metrics(t) if t.arch is not None else {}  # sizes of a pruned trial come from its arch
    lat = t.values.get("latency_ms", (t.attrs.get("pruned_values") or {}).get("latency_ms"))
    method = t.attrs.get("latency_method", "measured") if lat is not None else ""
    size = ["" if math.isnan(m.get(k, math.nan)) else m[k] for k in ("params_m", "macs_m")]
    row = [t.number, t.values.get("accuracy", t.attrs.get("pruned_accuracy", "")), lat if lat is not None else "",
           method, *size, *(t.values.get(k, t.attrs.get(k, "")) for k in extra)]
    if constrained:
        row.append("" if t.state != "COMPLETE" else "yes" if t.feasible else "no")
    return row + [t.arch.summary() if t.arch else ""]


COLUMN_NAMES = {"accuracy_int8": "int8 accuracy (onnxruntime)", "int8_drop": "int8 drop (fp32 - int8)"}


def _header(constrained: bool, first: str = "trial", accuracy: str = "accuracy",
            extra: tuple[str, ...] = ()) -> list[str]:
    return [first, accuracy, "latency (ms)", "latency method", "params (M)", "MACs (M)",
            *(COLUMN_NAMES.get(k, k) for k in extra)] + (
        ["feasible"] if constrained else []) + ["architecture"]


def front_section(run: Run) -> tuple[str, list[TrialRecord]]:
    """The front table (feasible trials only), then every evaluated trial with its outcome, folded."""
    from hynas.search.problems.scorers import objective_labels

    constrained = bool(run.meta["config"].get("constraints"))
    acc = objective_labels(run.meta["config"])["accuracy"]
    extra = tuple(o for o in run.objectives if o not in ("accuracy", "latency_ms", "params_m", "macs_g"))
    if "accuracy_int8" in extra:  # the fp32 -> int8 drop beside the int8 accuracy (a trial attribute)
        i = extra.index("accuracy_int8") + 1
        extra = (*extra[:i], "int8_drop", *extra[i:])
    front = sorted((t for t in run.front() if t.arch is not None), key=lambda t: t.values.get("latency_ms", 0.0))
    text = _table(_header(constrained, accuracy=acc, extra=extra), [_row(t, constrained, extra) for t in front])
    if constrained:
        text = (f"<p>Constraints: {html.escape(', '.join(run.meta['config']['constraints']))}. Trials that "
                "violate one are not in the front, whatever their scores.</p>" + text)
    evaluated = [t for t in run.trials if t.kind in ("complete", "infeasible", "pruned", "failed")]
    if evaluated:
        rows = [[*r[:1], t.outcome(), *r[1:]] for t, r in ((t, _row(t, constrained, extra)) for t in evaluated)]
        hdr = _header(constrained, accuracy=acc, extra=extra)
        text += (f"<details><summary>all {len(evaluated)} evaluated trials (accuracy of a pruned trial: where it "
                 "stopped)</summary>" + _table([hdr[0], "outcome", *hdr[1:]], rows) + "</details>")
    return text, front


def landmark_section(landmarks: list[Landmark]) -> str:
    if not landmarks:
        return ""
    rows = [[lm.label, lm.values.get("accuracy", ""), lm.values.get("latency_ms", ""), lm.values.get("params_m", ""),
             lm.skipped or ""] for lm in landmarks]
    return ("<h3>Published hybrids, adapted to this run and scored the same way</h3>"
            + _table(["model", "accuracy", "latency (ms)", "params (M)", "not drawn because"], rows))


def build_report(run: Run, landmarks: list[Landmark], pick: str = "knee") -> str:
    """The HTML text of the report (figures rendered into a temporary folder, then embedded)."""
    from hynas.export.pick import pick_trial
    from hynas.results.archview import arch_rows, draw_arch, rows_text
    from hynas.results.plots import plot_run

    c = run.meta["config"]
    chosen = pick_trial(run, pick)
    with tempfile.TemporaryDirectory() as tmp:
        plot_run(run, Path(tmp), landmarks)
        pareto_img = _img(Path(tmp) / "pareto.png")
        arch_img = _img(draw_arch(chosen.arch, Path(tmp) / "arch.png", title=f"trial {chosen.number} ({pick})"))
    front_html, _ = front_section(run)
    cfg_rows = [[k, json.dumps(v) if isinstance(v, (list, dict)) else v] for k, v in c.items()]
    fp = run.meta.get("fingerprint") or next((t.attrs["latency"].get("fingerprint", {}) for t in run.complete()
                                              if isinstance(t.attrs.get("latency"), dict)), {})
    parts = [f"<h1>hynas run {html.escape(str(run.path))}</h1>",
             (f"<p>Space <b>{html.escape(str(c['space']))}</b>, target <b>{html.escape(c['target'])}</b>, objectives "
             f"{html.escape(', '.join(run.objectives))}; machine {html.escape(str(fp.get('cpu_model', '?')))}; "
             f"hynas {html.escape(str(run.meta.get('versions', {}).get('hynas', '?')))}.</p>"),
             "<h2>Configuration</h2>", _table(["setting", "value"], cfg_rows),
             "<h2>Budget spent</h2>", budget_section(run),
             "<h2>Pareto front</h2>", front_html, pareto_img, landmark_section(landmarks),
             f"<h2>Chosen architecture: trial {chosen.number} ({html.escape(pick)})</h2>",
             f"<p>{html.escape(chosen.arch.summary())}<br>" + ", ".join(
                 f"{html.escape(k)} {v:.4g}" for k, v in chosen.values.items()) + "</p>",
             arch_img, f"<pre>{html.escape(rows_text(arch_rows(chosen.arch)))}</pre>",
             "<h2>How to reproduce</h2>", f"<pre>{html.escape(reproduce_text(run, pick))}</pre>",
             ("<details><summary>space YAML as searched</summary><pre>"
              + html.escape(run.meta.get("space_yaml", "")) + "</pre></details>"),
             ("<details><summary>versions</summary><pre>"
              + html.escape(json.dumps(run.meta.get("versions", {}), indent=2)) + "</pre></details>")]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>hynas report {html.escape(str(run.path))}"
            f"</title><style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>")
