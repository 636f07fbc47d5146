"""Few-shot latency transfer on NAS-Bench-201 tables: from one fully known device to another, K cells measured.

    nice taskset -c 1 .venv/bin/python benchmarks/latency_transfer_tabular.py \\
        --source ../shared/data/nb201_cifar10.csv --devices ../shared/data/nb201_cifar100_devices.csv \\
        --draws 25 --out benchmarks/results/latency_transfer_tabular.json

Every ``latency_ms_*`` column of the two files is a device (Xeon Gold 6226, Pixel 3, Titan RTX);
every ordered pair is a transfer (the Xeon as source is the headline). For K in 10, 20 and each way
of choosing the K cells (``random``; ``kcentre``, ``kmedoids`` and ``dopt`` over op counts, from a
random pool of 1,000), the same ``--draws`` sets go to every method; the other 15,605+ cells are scored (Spearman,
share within ±10% and ±5%; mean ± std over the draws). Methods, in ms unless said:
- ``scale``: log y = a + b log x (x: the source's latency of the cell);
- ``per-op (old)``: the previous rule: the source split into per-op parts by an additive per-edge fit,
  one factor per op + intercept on the K, ridge toward one global factor (LOO);
- ``fewshot, all ops``: :mod:`hynas.latency.fewshot` with only the "every op runs" view (ablation);
- ``fewshot``: :mod:`hynas.latency.fewshot`: per-op costs with a ridge prior toward the source's, and
  the executed graph (every op / dead code removed) chosen by leave-one-out on the K;
- ``fewshot, views averaged``: every view kept, weighted by the likelihood of its LOO errors
  (:func:`hynas.latency.fewshot.fit_fewshot_mix`);
- ``fewshot + log residual``: then a ridge on log(y / fewshot) over per-edge op one-hots, strong
  shrinkage (λ by LOO, ∞ allowed);
- ``fewshot ⊕ scale``: geometric blend w·log fewshot + (1-w)·log scale, w by LOO (rank-preserving
  when w is 0 or 1).
HELP (Lee et al., NeurIPS 2021) reports Spearman 0.93 on a new device from 10 samples.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from hynas.latency.fewshot import (
    FewShotFit,
    View,
    best_source_view,
    choose,
    design_features,
    fit_fewshot,
    fit_fewshot_mix,
    nb201_views,
    source_costs,
)
from hynas.nb201 import OPS, parse

KS = (10, 20)
DESIGNS = ("random", "kcentre", "kmedoids", "dopt")
NAMES = {"latency_ms_xeon_gold_6226": "xeon", "latency_ms_pixel3": "pixel3", "latency_ms_titan_rtx_1": "titan_rtx"}


def load(paths: list[str]) -> tuple[list[tuple[str, ...]], dict[str, np.ndarray]]:
    """Cells present in every file, and each ``latency_ms_*`` column as a device."""
    tables = []
    for p in paths:
        with open(p) as f:
            tables.append({r["arch_str"]: r for r in csv.DictReader(f)})
    archs = [a for a in tables[0] if all(a in t for t in tables[1:])]
    dev: dict[str, np.ndarray] = {}
    for t in tables:
        for col in next(iter(t.values())):
            if col.startswith("latency_ms_"):
                dev[NAMES.get(col, col[len("latency_ms_"):])] = np.array([float(t[a][col]) for a in archs])
    return [parse(a) for a in archs], dev


def edge_onehot(genos: list[tuple[str, ...]]) -> np.ndarray:
    return np.array([[float(o == t) for o in g for t in OPS[1:]] for g in genos])


def old_per_op(edges: np.ndarray, x: np.ndarray, y: np.ndarray, idx: list[int]) -> np.ndarray:
    """The previous rule (kept to compare): source split into per-op parts, factors toward one global factor."""
    w, *_ = np.linalg.lstsq(np.concatenate([np.ones((len(x), 1)), edges], axis=1), x, rcond=None)
    n = len(OPS) - 1
    parts = np.stack([*[(edges[:, k::n] * w[1 + k :: n]).sum(1) for k in range(n)], np.full(len(x), w[0])], axis=1)

    def fit(rows: np.ndarray, lam: float) -> np.ndarray:
        g = float(np.median(y[rows] / parts[rows].sum(1)))
        a = np.concatenate([np.ones((len(rows), 1)), parts[rows]], axis=1)
        pen = np.sqrt(lam) * np.eye(a.shape[1])
        pen[0, 0] = 0.0
        rhs = np.concatenate([y[rows], np.sqrt(lam) * np.r_[0.0, np.full(parts.shape[1], g)]])
        return np.linalg.lstsq(np.concatenate([a, pen]), rhs, rcond=None)[0]

    ix = np.asarray(idx)

    def loo(lam: float) -> float:
        e = [(fit(np.delete(ix, i), lam) @ np.r_[1.0, parts[ix[i]]]) / y[ix[i]] - 1 for i in range(len(ix))]
        return float(np.sqrt(np.mean(np.square(e))))

    coef = fit(ix, min((0.1, 1.0, 10.0), key=loo))
    return coef[0] + parts @ coef[1:]


def scale_fit(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    a = np.stack([np.ones(len(rows)), np.log(x[rows])], axis=1)
    coef = np.linalg.lstsq(a, np.log(y[rows]), rcond=None)[0]
    return np.exp(coef[0] + coef[1] * np.log(x))


def loo_fewshot(views: dict[str, View], prior: np.ndarray, idx: np.ndarray, y: np.ndarray, view: str,
                ridge: float) -> np.ndarray:
    """Leave-one-out predictions of the chosen fewshot fit (its view and ridge kept) at each of the K."""
    return np.array([fit_fewshot({view: views[view]}, prior, np.delete(idx, i), y, (ridge,)).predict(views)[idx[i]]
                     for i in range(len(idx))])


def log_residual(feats: np.ndarray, base: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Ridge on log(y / base) over ``feats``, λ by LOO among strong values (∞: no correction)."""
    r = np.log(y[idx] / np.maximum(base[idx], 1e-9))
    f = feats[idx] - feats[idx].mean(0)

    def solve(rows: np.ndarray, lam: float) -> np.ndarray:
        return np.linalg.solve(f[rows].T @ f[rows] + lam * np.eye(f.shape[1]), f[rows].T @ r[rows])

    def loo(lam: float) -> float:
        if lam == np.inf:
            return float(np.sqrt(np.mean(r**2)))
        return float(np.sqrt(np.mean([(r[i] - f[i] @ solve(np.delete(np.arange(len(r)), i), lam)) ** 2
                                      for i in range(len(r))])))

    lam = min((1.0, 10.0, 100.0, np.inf), key=loo)
    if lam == np.inf:
        return base
    return base * np.exp((feats - feats[idx].mean(0)) @ solve(np.arange(len(r)), lam))


def blend(fs: np.ndarray, sc: np.ndarray, fs_loo: np.ndarray, sc_loo: np.ndarray, y: np.ndarray) -> np.ndarray:
    """exp(w log fs + (1-w) log sc), w by the LOO predictions' log error."""
    def err(w: float) -> float:
        return float(np.mean((w * np.log(np.maximum(fs_loo, 1e-9)) + (1 - w) * np.log(sc_loo) - np.log(y)) ** 2))

    w = min((0.0, 0.25, 0.5, 0.75, 1.0), key=err)
    return np.exp(w * np.log(np.maximum(fs, 1e-9)) + (1 - w) * np.log(sc))


def methods(ctx: dict, x: np.ndarray, y: np.ndarray, idx: list[int]) -> dict[str, np.ndarray]:
    """Every method's prediction for all cells, from the same K measured cells."""
    ix = np.asarray(idx)
    views, prior = ctx["views"], ctx["prior"]
    fit = fit_fewshot(views, prior, ix, y)
    fs = fit.predict(views)
    sc = scale_fit(x, y, ix)
    fs_loo = loo_fewshot(views, prior, ix, y, fit.view, fit.ridge)
    sc_loo = np.array([scale_fit(x, y, np.delete(ix, i))[ix[i]] for i in range(len(ix))])
    ctx["chosen_views"].append(fit.view)
    return {
        "scale": sc,
        "per-op (old)": old_per_op(ctx["edges"], x, y, idx),
        "fewshot, all ops": fit_fewshot({"all": views["all"]}, prior, ix, y).predict(views),
        "fewshot": fs,
        "fewshot, views averaged": fit_fewshot_mix(views, prior, ix, y).predict(views),
        "fewshot + log residual": log_residual(ctx["edges"], fs, y, ix),
        "fewshot ⊕ scale": blend(fs, sc, fs_loo, sc_loo, y[ix]),
    }


def score(pred: np.ndarray, y: np.ndarray, idx: list[int]) -> tuple[float, float, float]:
    rest = np.setdiff1d(np.arange(len(y)), idx)
    rel = np.abs(pred[rest] / y[rest] - 1)
    return float(spearmanr(pred[rest], y[rest]).statistic), float(np.mean(rel <= 0.10)), float(np.mean(rel <= 0.05))


def summary(vals: list[tuple[float, float, float]]) -> dict[str, float]:
    a = np.array(vals)
    return {"spearman_mean": float(a[:, 0].mean()), "spearman_std": float(a[:, 0].std()),
            "spearman_min": float(a[:, 0].min()), "within_10pct_mean": float(a[:, 1].mean()),
            "within_10pct_std": float(a[:, 1].std()), "within_5pct_mean": float(a[:, 2].mean())}


def ceiling(views: dict[str, View], y: np.ndarray) -> dict[str, dict[str, float]]:
    """The fewshot model's best case: its per-op costs fitted on every cell of the device, per view."""
    out = {}
    for name, v in views.items():
        folded = float(np.median(y[v.folded])) if v.folded.any() else None
        pred = FewShotFit(name, 0.0, source_costs(v, y), folded).predict(views)
        out[name] = {"spearman": float(spearmanr(pred, y).statistic),
                     "within_10pct": float(np.mean(np.abs(pred / y - 1) <= 0.10))}
    return out


def transfer(ctx: dict, src: str, dst: str, draws: int, seed: int) -> dict:
    """Every K, choice and method for one source -> target pair, on the same draws."""
    x, y = ctx["dev"][src], ctx["dev"][dst]
    ctx["prior_view"], ctx["prior"] = best_source_view(ctx["views"], x)
    res: dict = {"source_view": ctx["prior_view"], "source_spearman": float(spearmanr(x, y).statistic)}
    for k in KS:
        for how in DESIGNS:
            rng, ctx["chosen_views"], scores = random.Random(seed), [], {}
            for _ in range(draws):
                idx = choose(ctx["feats"], k, rng, how)
                for m, pred in methods(ctx, x, y, idx).items():
                    scores.setdefault(m, []).append(score(pred, y, idx))
            res[f"k{k}_{how}"] = {m: summary(v) for m, v in scores.items()}
            res[f"k{k}_{how}"]["fewshot"]["views_chosen"] = {v: ctx["chosen_views"].count(v) for v in ctx["views"]}
    return res


def row(pair: str, k: int, how: str, m: str, r: dict) -> str:
    return (f"| {pair} | {k} | {how} | {m} | {r['spearman_mean']:.3f} ± {r['spearman_std']:.3f} ({r['spearman_min']:.3f}) "
            f"| {r['within_10pct_mean']:.0%} ± {r['within_10pct_std']:.0%} | {r['within_5pct_mean']:.0%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="CSV with the source device's latency (the Xeon's file)")
    ap.add_argument("--devices", required=True, help="CSV with more latency_ms_* columns")
    ap.add_argument("--draws", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", default="", help="comma-separated source devices (default: every device)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    t0 = time.time()
    genos, dev = load([args.source, args.devices])
    views = nb201_views(genos)
    ctx = {"dev": dev, "views": views, "feats": design_features(views), "edges": edge_onehot(genos)}
    out: dict = {"n": len(genos), "draws": args.draws, "seed": args.seed, "ks": list(KS), "designs": list(DESIGNS),
                 "ceiling": {d: ceiling(views, y) for d, y in dev.items()}, "results": {}}
    for src in (args.sources.split(",") if args.sources else list(dev)):
        for dst in dev:
            if dst != src:
                pair = f"{src}->{dst}"
                out["results"][pair] = r = transfer(ctx, src, dst, args.draws, args.seed)
                for key, ms in r.items():
                    if key.startswith("k"):
                        k, how = key[1:].split("_")
                        for m, s in ms.items():
                            print(row(pair, int(k), how, m, s), flush=True)
    out["seconds"] = round(time.time() - t0, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
