"""Scoring half of ``latency_transfer.py``: adapt the source predictor with K of the 50 fit archs, score on 100."""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path
from typing import Any

KS = (5, 10, 20, 50)


def _load(path: str, raw: bool = False) -> dict[str, Any]:
    """The measured pool; every time rescaled by its reference-network time unless ``raw``."""
    from hynas.build import block_plan
    from hynas.latency.profile import nominal_reference
    from hynas.space.arch import Arch

    d = json.loads(Path(path).read_text())
    fit = [r for r in d["archs"] if r["split"] == "fit"]
    nominal = nominal_reference([r["reference_ms"] for r in fit])
    for r in d["archs"]:
        r["a"] = Arch.from_json(r["arch"])
        r["units"] = block_plan(r["a"])
        r["y"] = r["median_ms"] * (1.0 if raw else nominal / r["reference_ms"])
    by_hash = {r["hash"]: r for r in d["archs"]}
    d["noise"] = [(g["median_ms"] * (1.0 if raw else nominal / g["reference_ms"]), by_hash[g["hash"]]["y"])
                  for g in d["again"]]
    d["nominal"] = nominal
    return d


def _predict(pred: Any, rows: list[dict[str, Any]]) -> list[float]:
    from hynas.latency.predictor import input_key

    return [pred.predict_units_ms(r["units"], input_key(r["a"])) for r in rows]


def _summary(accs: list[dict[str, float]]) -> dict[str, float]:
    keys = ("within_10pct", "within_5pct", "spearman", "rmse_pct")
    out = {f"{k}_median": statistics.median(a[k] for a in accs) for k in keys}
    out.update({f"{k}_min": min(a[k] for a in accs) for k in keys})
    out["draws"] = len(accs)
    return out


def _kcentre_picks(source: Any, fit: list[dict[str, Any]], k: int, rng: random.Random) -> list[dict[str, Any]]:
    """``k`` of the fit archs chosen as ``calibrate_here(choice="kcentre")`` chooses (farthest apart in
    the source's per-block-type contributions), from a random start."""
    import numpy as np

    from hynas.latency.calibrate import Sample, _design
    from hynas.latency.fewshot import kcentre

    s_mat, fixed, _, _ = _design(source, [Sample(r["a"], r["units"], 1.0) for r in fit])
    return [fit[i] for i in kcentre(np.concatenate([s_mat, fixed[:, None]], axis=1), k, rng.randrange(len(fit)))]


def score_file(source: Any, path: str, draws: int, seed: int = 0, raw: bool = False) -> dict[str, Any]:
    from hynas.latency.calibrate import Sample, apply_transfer, fit_transfer
    from hynas.latency.predictor import accuracy

    d = _load(path, raw)
    fit = [r for r in d["archs"] if r["split"] == "fit"]
    test = [r for r in d["archs"] if r["split"] == "test"]
    y = [r["y"] for r in test]
    res: dict[str, Any] = {
        "target": d["target"]["name"], "n_test": len(test), "load": [s.split("load average:")[-1] for s in d["load"]],
        "measure_seconds": d["seconds"], "unadapted": accuracy(_predict(source, test), y),
        "noise_floor": accuracy([a for a, _ in d["noise"]], [b for _, b in d["noise"]]),
    }
    rng = random.Random(seed)
    for k in KS:
        for method in ("global", "auto", "auto_kcentre"):
            accs = []
            for _ in range(1 if k >= len(fit) else draws):
                if k >= len(fit):
                    pick = fit
                elif method == "auto_kcentre":
                    pick = _kcentre_picks(source, fit, k, rng)
                else:
                    pick = rng.sample(fit, k)
                f = fit_transfer(source, [Sample(r["a"], r["units"], r["y"]) for r in pick],
                                 method.removesuffix("_kcentre"))
                accs.append(accuracy(_predict(apply_transfer(source, f), test), y))
            res[f"k{k}_{method}"] = _summary(accs)
    return res


def score(args: argparse.Namespace) -> None:
    from hynas.latency.predictor import Predictor

    src = Predictor.load(args.source)
    raw = bool(getattr(args, "raw", False))
    out = {"source": args.source, "source_fingerprint": src.fingerprint, "raw": raw,
           "results": [score_file(src, f, args.draws, raw=raw) for f in args.files]}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for r in out["results"]:
        print(_table(r))


def _row(name: str, acc: dict[str, float], suffix: str = "") -> str:
    g = (lambda k: acc[f"{k}{suffix}"])
    return f"| | {name} | {g('within_10pct'):.0%} | {g('within_5pct'):.0%} | {g('rmse_pct'):.1f} | {g('spearman'):.3f} |"


def _table(r: dict[str, Any]) -> str:
    lines = [f"| **{r['target']}** (load {r['load'][0].strip()} .. {r['load'][-1].strip()}) | | | | | |",
             _row("unadapted source", r["unadapted"]), _row("noise floor (30)", r["noise_floor"])]
    for k in KS:
        for m in ("global", "auto", "auto_kcentre"):
            s = r[f"k{k}_{m}"]
            lines.append(_row(f"K={k} {m} (median of {s['draws']})", s, "_median"))
    return "\n".join(lines)
