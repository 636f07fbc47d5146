"""Render the "Proxies" section of docs/BENCHMARKS.md from the merged proxy benchmark JSONs.

Usage: python benchmarks/proxy_report.py [--nb201 benchmarks/results/proxy_nb201.json]
       [--hybrid benchmarks/results/proxy_hybrid.json] [--cost benchmarks/results/proxy_train_cost.jsonl]
Prints Markdown; every figure is read from the result files, none typed by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PUBLISHED = {"synflow": 0.74, "naswot": 0.79, "jacob_cov": 0.73, "grad_norm": 0.59, "snip": 0.59, "params": 0.75}


def valid_spearman(res: dict, table: Path) -> dict[str, float]:
    """Each proxy's Spearman against the table's *validation* column instead of the test column.

    The published figures' target is not the table's test column. zero-cost-nas's
    ``nasbench2_pred.py`` (which produced Table 1 of Abdelfattah et al. 2021) reads
    ``get_more_info(i, 'cifar10-valid', hp='200')['test-accuracy']``: the run trained on the
    25k-image train split ('cifar10-valid'). The table's ``cifar10_test_acc`` comes from the other
    run, trained on train + valid ('cifar10'; its best is the 94.37 every NB201 search paper
    quotes), while ``cifar10_valid_acc`` comes from the 'cifar10-valid' run itself, scored on its
    held-out split. The validation column is therefore the closest the table has to the
    published protocol's target.
    """
    from scipy.stats import spearmanr

    from hynas.nb201 import NB201Table
    from hynas.nb201 import parse as parse_arch_str

    nb201 = NB201Table(table)
    rows = res["rows"]
    acc = [nb201[parse_arch_str(r["arch_str"])].valid_acc for r in rows]
    return {p: float(spearmanr([r[p] for r in rows], acc).statistic) for p in PUBLISHED if p in rows[0]}


def nb201_table(res: dict, table: Path | None = None) -> list[str]:
    sp, secs = res["spearman"], res["mean_seconds"]
    sv = valid_spearman(res, table) if table is not None and table.is_file() else {}
    lines = [(f"NAS-Bench-201, {res['n']} archs sampled from the table (seed {res['archs_seed']}), CIFAR-10 test "
             f"accuracy; data-dependent proxies on one batch of {res['batch_size']} embedded digits "
             f"(1 channel repeated to 3, 32x32). Command: `{res['command']}`."), "",
             ("| proxy | Spearman vs test column | within ±0.05 | Spearman vs validation column (the published "
              "protocol's training run) | within ±0.05 | published | mean s/arch (busy 2-core box) |"),
             "|---|---|---|---|---|---|---|"]

    def ok(v: float | None, pub: float) -> str:
        return "–" if v is None else "yes" if abs(v - pub) <= 0.05 else "**no**"

    for name, pub in PUBLISHED.items():
        cost = "in grad_norm's pass" if name == "snip" else f"{secs[name]:.2f}"
        v = sv.get(name)
        vs = "–" if v is None else f"{v:.3f}"
        lines.append(f"| {name} | {sp[name]:.3f} | {ok(sp[name], pub)} | {vs} | {ok(v, pub)} | {pub:.2f} | {cost} |")
    for combo in (k for k in sp if "+" in k):
        lines.append(f"| rank-avg {combo} | {sp[combo]:.3f} | – | – | – | – | – |")
    if sv:
        lines += ["", "Why two targets: " + " ".join(valid_spearman.__doc__.split("\n\n")[1].split())]
    return lines


def nb201_batch_table(results: list[dict]) -> list[str]:
    """Spearman of the data-dependent proxies at each batch size, on the archs every run scored."""
    from scipy.stats import spearmanr

    results = sorted(results, key=lambda r: r["batch_size"])
    common = set.intersection(*({r["arch_str"] for r in res["rows"]} for res in results))
    names = [p for p in ("naswot", "jacob_cov", "grad_norm", "snip") if all(p in res["rows"][0] for res in results)]
    batches = [res["batch_size"] for res in results]
    lines = [(f"Batch-size sensitivity on the {len(common)} archs scored at every batch size (the first archs of "
              "the same seeded sample; the larger batches were stopped when the session's time ran out): "
              "Spearman vs CIFAR-10 test accuracy. Commands: "
              + "; ".join(f"`{res['command']}`" for res in results) + "."), "",
             "| proxy | " + " | ".join(f"batch {b}" for b in batches) + " | published |",
             "|---|" + "---|" * (len(batches) + 1)]
    for p in names:
        cells = []
        for res in results:
            rows = [r for r in res["rows"] if r["arch_str"] in common]
            cells.append(f"{spearmanr([r[p] for r in rows], [r['cifar10_test_acc'] for r in rows]).statistic:.3f}")
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {PUBLISHED[p]:.2f} |")
    for res in results[1:]:
        if res["n"] > len(common):
            sp = res["spearman"]
            lines += ["", f"Batch {res['batch_size']} over all {res['n']} archs it scored: "
                      + ", ".join(f"{p} {sp[p]:.3f} (published {PUBLISHED[p]:.2f}, "
                                  f"{'within' if abs(sp[p] - PUBLISHED[p]) <= 0.05 else '**outside**'} ±0.05)"
                                  for p in names) + f"; table params {sp['table_params_M']:.3f} on the same archs"]
            archs = {r["arch_str"] for r in res["rows"]}
            rows = [r for r in results[0]["rows"] if r["arch_str"] in archs]
            acc = [r["cifar10_test_acc"] for r in rows]
            lines[-1] += (f"; batch {results[0]['batch_size']} on these archs: " + ", ".join(
                f"{p} {spearmanr([r[p] for r in rows], acc).statistic:.3f}" for p in names) + ".")
    return lines


def hybrid_table(res: dict) -> list[str]:
    summ = res["summary"]
    ref = summ["reference"]
    lines = [(f"Default space (AsCAN-style hybrids), {res['n']} sampled archs on the embedded digits. "
             f"Reference = the same trainer run for --ref-steps (see the command); held-out accuracy "
             f"{ref['accuracy_min']:.3f}-"
             f"{ref['accuracy_max']:.3f} and costs {ref['seconds_per_arch']:.1f} s/arch. "
             f"Command: `{res['command']}`."), "",
             "| proxy | Spearman vs reference | s/arch | cost vs reference | timed in |", "|---|---|---|---|---|"]
    reused: set[str] = set()
    if "--reuse" in res["command"]:  # trainings copied from an earlier (deterministic) run keep that run's seconds
        src = json.loads(Path(res["command"].split("--reuse")[1].split()[0]).read_text())
        reused = {k for k in src["rows"][0] if k.startswith("train") and not k.endswith("_s")}
    # Each proxy's cost is compared with the reference timed under the same load: a reused reference keeps the
    # earlier run's load, so for this run's proxies the reference time is scaled from a full-resolution training
    # timed in this run (training time is linear in the steps: same recipe, same arch).
    ref_now, ref_steps = ref["seconds_per_arch"], res.get("ref_steps")
    timed_now = [k for k in summ if k.startswith("train") and k[5:].isdigit() and k not in reused]
    if reused and timed_now and ref_steps:
        k = max(timed_now, key=lambda k: int(k[5:]))
        ref_now = summ[k]["seconds_per_arch"] * ref_steps / int(k[5:])
        lines[0] += (f" The reference trainings were reused from the earlier run, so this run's costs are compared "
                     f"with {ref_steps}/{k[5:]} x {k}'s time ({ref_now:.1f} s/arch at this run's load).")
    rows = sorted(((k, v) for k, v in summ.items() if k != "reference"), key=lambda kv: -kv[1]["spearman"])
    for name, v in rows:
        parts = name.split("+")
        when = "earlier run" if all(p in reused for p in parts) else "this run"
        base = ref["seconds_per_arch"] if when == "earlier run" else ref_now
        lines.append(f"| {name} | {v['spearman']:.3f} | {v['seconds_per_arch']:.2f} | "
                     f"{100 * v['seconds_per_arch'] / base:.1f}% | {when} |")
    return lines


def cost_lines(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    steps = sorted({r["steps"] for r in rows})
    lines = [(f"Short-training proxy (`train_proxy`, {'/'.join(map(str, steps))} steps, batch 64, one thread) on sampled "
             "default-space hybrids; CPU seconds of the process (what one free core takes) and wall seconds on the busy "
             f"box. Command: `python benchmarks/proxy_train_cost.py --n 5` ({len(rows)} finished before it was stopped)."),
             "",
             "| arch | params | CPU s | wall s | held-out acc |", "|---|---|---|---|---|"]
    lines += [f"| {r['hash'][:10]} | {r['params']} | {r['cpu_s']} | {r['wall_s']} | {r['val_accuracy']:.3f} |"
              for r in rows]
    return lines


INTRO = """## Proxies: zero-cost scores and short training (issue #5)

How well hynas's cheap accuracy signals rank architectures. NAS-Bench-201 checks the
zero-cost implementations against published Spearman figures (Abdelfattah et al. 2021;
Mellor et al. 2021) on real ground truth; the hybrid table compares every proxy with a
longer training of the same default-space hybrids. All tables are rendered from the result
JSON under `benchmarks/results/` by `python benchmarks/proxy_report.py --write docs/BENCHMARKS.md`.
Machine: x86_64 "Intel(R) Xeon(R) Processor", 2 cores, torch 2.13.0+cpu, one thread per
process, shared with other jobs (load average 8-18 during the batch-16 NB201 run and the
earlier hybrid trainings, 4.5-8 during the batch-64/128 NB201 runs and the hybrid zero-cost
and 100-step runs; the newer result JSONs record theirs): seconds are wall time on that busy box
and only ratios measured in the same run are meaningful.
"""


def write_section(doc: Path, body: str) -> None:
    """Replace this section (from its heading to the next '## ') in ``doc``, atomically."""
    import os

    text = doc.read_text(encoding="utf-8") if doc.is_file() else "# Benchmarks\n"
    head = INTRO.splitlines()[0]
    start = text.find(head)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    else:
        end = text.find("\n## ", start + len(head))
        tail = text[end + 1:] if end >= 0 else ""
        text = text[:start] + body.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    tmp = doc.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb201", default="benchmarks/results/proxy_nb201.json")
    ap.add_argument("--nb201-batches", nargs="*", default=["benchmarks/results/proxy_nb201_b64.json",
                                                           "benchmarks/results/proxy_nb201_b128.json"],
                    help="runs of the same sample at other batch sizes (the sensitivity table)")
    ap.add_argument("--hybrid", default="benchmarks/results/proxy_hybrid_b64.json")
    ap.add_argument("--cost", default="benchmarks/results/proxy_train_cost.jsonl")
    ap.add_argument("--notes", default="benchmarks/results/proxy_notes.md", help="hand-written findings appended")
    ap.add_argument("--table", default="../shared/data/nb201_cifar10.csv",
                    help="NAS-Bench-201 table, for the Spearman against its validation column")
    ap.add_argument("--write", help="replace the Proxies section of this Markdown file instead of printing")
    args = ap.parse_args(argv)
    out: list[str] = [INTRO]
    if Path(args.nb201).is_file():
        base = json.loads(Path(args.nb201).read_text())
        out += nb201_table(base, Path(args.table)) + [""]
        others = [json.loads(Path(p).read_text()) for p in args.nb201_batches if Path(p).is_file()]
        if others:
            out += nb201_batch_table([base, *others]) + [""]
    if Path(args.hybrid).is_file():
        out += hybrid_table(json.loads(Path(args.hybrid).read_text())) + [""]
    if Path(args.cost).is_file() and Path(args.cost).stat().st_size:
        out += cost_lines(Path(args.cost)) + [""]
    if Path(args.notes).is_file():
        out.append(Path(args.notes).read_text(encoding="utf-8"))
    if args.write:
        write_section(Path(args.write), "\n".join(out))
    else:
        print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
