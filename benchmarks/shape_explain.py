"""Shape sensitivity vs where attention sits, and T-TAME vs Grad-CAM on two exported models.

Usage: python benchmarks/shape_explain.py --samples 8 --steps 300 --tame-steps 300
Part 1: three hand-made layouts (pure conv; attention in the last stage only; attention from
stage 2), --samples archs drawn (seeded) from the default space and every shipped 2-D
reference model (--references all, or named ones) adapted to 1x32x32 under 2 M params
(hynas.results.landmarks.adapt, as landmarks are: paper depths and blocks, widths divided),
each trained --steps on digits and on the generated shapes, then scored with
hynas.proxy.shape (all five disruption levels, 1,000 held-out images).
Part 2: the pure-conv and the attention-heavy layouts, trained on digits, exported as
model.py + model.pt, loaded back by hynas.explain.load, explained with T-TAME
(--tame-steps) and Grad-CAM on 500 held-out digits. Writes
benchmarks/results/shape_explain.json and docs/explain/maps_{conv,attention}.png.

Pieces: ``--no-layouts --samples 0 --references NAME --skip-explain --out F`` trains one
reference alone (run each under ``timeout``); ``--merge BASE F1 F2 ...`` writes BASE's rows
with the pieces' rows added (a later file's dataset results win for the same label) and
recomputes the Spearman correlations with their p-values and a permutation test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from hynas.build import build_model
from hynas.errors import ArchError
from hynas.proxy.data import load_dataset
from hynas.proxy.shape import layout_features, shape_sensitivity
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space, sample
from hynas.space.arch import Arch

ROOT = Path(__file__).resolve().parents[1]
PERMUTATIONS = 10_000


def _block(kind: str, out: int) -> dict:
    if kind == "attn":
        return {"type": "mhsa", "out": out, "knobs": {"act": "gelu", "cpe": True, "head_dim": 16, "mlp_ratio": 2,
                                                      "qkv_bias": True}}
    return {"type": "mbconv", "out": out, "knobs": {"act": "gelu", "expansion": 2, "kernel": 3, "se": False,
                                                    "se_ratio": 0.25}}


def layout(s2: list[str], s3: list[str]) -> Arch:
    down = {"type": "conv_down", "knobs": {"kernel": 3, "norm": "bn"}}
    return Arch({"input": {"channels": 1, "resolution": 32, "classes": 10},
                 "stem": {"type": "conv_stem", "out": 16, "knobs": {"act": "gelu", "kernel": 3, "layers": 1,
                                                                    "reduction": 2}},
                 "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}}, "blocks": [_block("c", 24)]},
                            {"name": "s2", "downsample": down, "blocks": [_block(k, 48) for k in s2]},
                            {"name": "s3", "downsample": down, "blocks": [_block(k, 64) for k in s3]}],
                 "head": {"type": "pool_linear", "knobs": {"dropout": 0.0, "norm": "none"}}})


HAND = {"conv": layout(["c", "c"], ["c", "c"]), "attention-late": layout(["c", "c"], ["c", "attn"]),
        "attention-heavy": layout(["attn", "attn"], ["attn", "attn"])}


def candidates(n_samples: int, references: str = "all", layouts: bool = True) -> list[tuple[str, str, Arch]]:
    """(label, kind, arch): hand-made layouts, space samples, adapted 2-D reference models (or why not)."""
    from hynas.results.landmarks import adapt, reference_files
    from hynas.space import fixed_arch

    out = [(k, "layout", a) for k, a in HAND.items()] if layouts else []
    sp, rng = load_space("default"), random.Random(0)
    out += [(f"default#{i}", "sample", sample(sp, rng)) for i in range(n_samples)]
    names = [n for n in references.split(",") if n and n != "none"]
    for path in reference_files(names, 2 if names == ["all"] else None) if names else []:
        try:
            ref = fixed_arch(load_space(str(path)))
            arch, div = adapt(ref, {"resolution": 32, "channels": 1, "classes": 10}, 2.0e6)
            out.append((f"{path.stem}/{div}", "reference", arch))
        except ArchError as e:
            out.append((path.stem, f"refused: {e}", None))
    return out


def shape_rows(n_samples: int, steps: int, datasets: list[str], references: str = "all",
               layouts: bool = True) -> list[dict]:
    rows = []
    data = {d: load_dataset(d) for d in datasets}
    for label, kind, arch in candidates(n_samples, references, layouts):
        if arch is None:
            rows.append({"label": label, "kind": kind})
            continue
        row = {"label": label, "kind": kind, "hash": arch.hash, **layout_features(arch.to_dict())}
        for dname, d in data.items():
            torch.manual_seed(0)
            model = build_model(arch)
            t0 = time.perf_counter()
            res = train_proxy(model, d, steps=steps, seed=0)
            t1 = time.perf_counter()
            score = shape_sensitivity(model, d, seed=0)
            row[dname] = {"accuracy": res.val_accuracy, **score, "train_s": round(t1 - t0, 2),
                          "shape_s": round(time.perf_counter() - t1, 2)}
        rows.append(row)
    return rows


def _rho(x: list[float], y: list[float]) -> float:
    rho = spearmanr(x, y).statistic
    return float("nan") if rho is None else float(rho)


def permutation_p(x: list[float], y: list[float], n: int = PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided p of Spearman's rho by shuffling y (ties kept as they are): (1 + #|rho*| >= |rho|) / (1 + n)."""
    obs = abs(_rho(x, y))
    rng = np.random.default_rng(seed)
    ry, rx = rankdata(y), rankdata(x)
    hits = sum(abs(float(np.corrcoef(rx, rng.permutation(ry))[0, 1])) >= obs - 1e-12 for _ in range(n))
    return (1 + hits) / (1 + n)


def _test(x: list[float], y: list[float]) -> dict:
    res = spearmanr(x, y)
    return {"rho": round(float(res.statistic), 3), "p": round(float(res.pvalue), 4),
            "p_permutation": round(permutation_p(x, y), 4), "n": len(x)}


def correlations(rows: list[dict], datasets: list[str]) -> dict:
    """Spearman of shape sensitivity with the attention share and start, over every network and the references alone.

    Each entry: rho, scipy's asymptotic p-value, a permutation p-value, the number of networks,
    and under ``relative`` the same for sensitivity / (accuracy - chance): the drop as a share of
    what the network learnt above chance, since a network that learnt less can drop less.
    """
    out = {}
    groups = {"all": lambda r: True, "references": lambda r: r.get("kind") == "reference"}
    for d in datasets:
        for group, keep in groups.items():
            ok = [r for r in rows if d in r and keep(r)]
            for feat in ("attention_share", "attention_start"):
                x = [r[feat] for r in ok]
                if len(ok) < 3 or len(set(x)) < 2:
                    continue
                rel = [r[d]["shape_sensitivity"] / max(1e-9, r[d]["accuracy"] - 0.1) for r in ok]  # 10 classes
                out[f"{d}:{group}:{feat}"] = {**_test(x, [r[d]["shape_sensitivity"] for r in ok]),
                                              "relative": _test(x, rel)}
    return out


def merge(files: list[str], datasets: list[str]) -> dict:
    """BASE (the first file) with the rows of the others added; a later file's dataset results win per label."""
    result = json.loads(Path(files[0]).read_text(encoding="utf-8"))
    rows = {r["label"]: r for r in result.get("shape", [])}
    for f in files[1:]:
        piece = json.loads(Path(f).read_text(encoding="utf-8"))
        for r in piece.get("shape", []):
            old = rows.get(r["label"], {})
            if old.get("hash") and r.get("hash") and old["hash"] != r["hash"]:
                raise SystemExit(f"{f}: {r['label']} is another arch ({r['hash']}) than in {files[0]} ({old['hash']})")
            rows[r["label"]] = {**old, **r}
        result.setdefault("pieces", []).append({"file": f, "args": piece.get("args"),
                                                "load_before": piece.get("load_before"),
                                                "load_after": piece.get("load_after"), "seconds": piece.get("seconds")})
    result["shape"] = list(rows.values())
    result["spearman_shape_vs_layout"] = correlations(result["shape"], datasets)
    return result


def explain_rows(steps: int, tame_steps: int) -> dict:
    from hynas.explain.load import check_data, load_exported
    from hynas.explain.pipeline import ExplainConfig, explain_model
    from hynas.explain.render import display_images, write_grid
    from hynas.export.codegen import generate_source

    data = load_dataset("digits")
    out = {}
    for label, key in (("conv", "conv"), ("attention-heavy", "attention")):
        arch = HAND[label]
        torch.manual_seed(0)
        net = build_model(arch)
        acc = train_proxy(net, data, steps=steps, seed=0).val_accuracy
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "model.py").write_text(generate_source(arch), encoding="utf-8")
            torch.save(net.state_dict(), Path(tmp) / "model.pt")
            loaded = load_exported(tmp)
            check_data(loaded, data, "digits")
            res = explain_model(loaded, data, ExplainConfig(steps=tame_steps, count=6, eval_images=500))
        images = display_images(data.val_x[:6], *data.stats())
        fig = write_grid(ROOT / "docs" / "explain" / f"maps_{key}.png", images, res.maps,
                         [f"pred {int(c)}" for c in res.classes])
        out[label] = {"accuracy": acc, **layout_features(arch.to_dict()), **res.summary(), "figure": str(fig)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--tame-steps", type=int, default=300)
    ap.add_argument("--datasets", default="digits,shapes")
    ap.add_argument("--skip-shape", action="store_true")
    ap.add_argument("--skip-explain", action="store_true")
    ap.add_argument("--references", default="all", help="all (every shipped 2-D reference), none, or names")
    ap.add_argument("--no-layouts", action="store_true", help="leave out the three hand-made layouts")
    ap.add_argument("--merge", nargs="+", default=None, help="BASE PIECE...: merge result files, no training")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "shape_explain.json"))
    a = ap.parse_args()
    datasets = [d for d in a.datasets.split(",") if d]
    if a.merge:
        result = merge(a.merge, datasets)
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {a.out}: {len(result['shape'])} networks")
        return
    t0 = time.perf_counter()
    result: dict = {"args": vars(a), "machine": platform.processor() or platform.machine(),
                    "load_before": os.getloadavg(), "torch_threads": torch.get_num_threads()}
    if not a.skip_shape:
        rows = shape_rows(a.samples, a.steps, datasets, a.references, not a.no_layouts)
        result["shape"] = rows
        result["spearman_shape_vs_layout"] = correlations(rows, datasets)
    if not a.skip_explain:
        result["explain"] = explain_rows(a.steps, a.tame_steps)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_after"] = os.getloadavg()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {a.out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
