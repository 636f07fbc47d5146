"""``hynas explain`` end to end: train T-TAME, explain held-out images, score against baselines, write.

The attention mechanism trains on the dataset's train split; explanations and the AD/IC
scores are on its held-out split, for the class the network predicts. Outputs::

    OUT/tame/NNN_<class>.png      image | T-TAME overlay, one per explained image
    OUT/gradcam/NNN_<class>.png   the same with Grad-CAM
    OUT/rise/NNN_<class>.png      the same with RISE (unless --rise-masks 0)
    OUT/maps.png                  a grid of images with every method's overlay
    OUT/explain.json              AD / IC at 100/50/15% kept, timings, training losses, settings
    OUT/attention.pt              the trained mechanism's state_dict (weights_only loadable)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hynas.explain.features import check_layers, default_layers
from hynas.explain.gradcam import gradcam
from hynas.explain.load import Loaded
from hynas.explain.metrics import ad_ic
from hynas.explain.tame import Explainer, train_tame

_TITLES = {"t-tame": "T-TAME", "grad-cam": "Grad-CAM", "rise": "RISE"}


@dataclass(frozen=True)
class ExplainConfig:
    steps: int = 300  # attention-mechanism training steps
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    layers: tuple[str, ...] = ()  # default: the last three stages
    eval_images: int = 500  # held-out images scored with AD / IC
    count: int = 16  # held-out images written as PNG overlays
    rise_masks: int = 250  # RISE baseline masks per image (0: no RISE)


@dataclass
class ExplainResult:
    layers: list[str]
    gradcam_layer: str
    metrics: dict[str, dict[str, float]]  # method -> AD_100, IC_100, AD_50, ...
    ms_per_image: dict[str, float]
    train_seconds: float
    history: list[dict[str, float]]
    maps: dict[str, torch.Tensor] = field(repr=False)  # method -> (count, H, W) maps of the first images
    classes: torch.Tensor = field(repr=False)
    explainer: Explainer | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"layers": self.layers, "gradcam_layer": self.gradcam_layer, "metrics": self.metrics,
                "ms_per_image": self.ms_per_image, "train_seconds": round(self.train_seconds, 2),
                "history": self.history}


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def explain_model(loaded: Loaded, data: Any, cfg: ExplainConfig) -> ExplainResult:
    """Train the mechanism on ``data``'s train split and score it and Grad-CAM on the held-out split."""
    model = loaded.model
    layers = list(cfg.layers) or default_layers(model)
    check_layers(model, layers)
    exp = train_tame(model, data.train_x, layers, data.classes, steps=cfg.steps, batch_size=cfg.batch_size,
                     lr=cfg.lr, seed=cfg.seed)
    n = min(cfg.eval_images, len(data.val_y))
    x = data.val_x[:n]
    (t_maps, cls), t_tame = _timed(lambda: exp.explain(x))
    (g_maps, _), t_grad = _timed(lambda: gradcam(model, x, layers[-1], classes=cls))
    maps = {"t-tame": t_maps, "grad-cam": g_maps}
    seconds = {"t-tame": t_tame, "grad-cam": t_grad}
    if cfg.rise_masks > 0:
        from hynas.explain.rise import rise

        maps["rise"], seconds["rise"] = _timed(lambda: rise(model, x, cls, masks=cfg.rise_masks, seed=cfg.seed))
    metrics = {m: ad_ic(model, x, v, cls) for m, v in maps.items()}
    k = min(cfg.count, n)
    return ExplainResult(layers=layers, gradcam_layer=layers[-1], metrics=metrics,
                         ms_per_image={m: 1e3 * t / n for m, t in seconds.items()},
                         train_seconds=exp.seconds, history=exp.history,
                         maps={_TITLES[m]: v[:k] for m, v in maps.items()}, classes=cls[:k], explainer=exp)


def write_outputs(out: Path, res: ExplainResult, data: Any, loaded: Loaded, cfg: ExplainConfig,
                  data_name: str) -> list[Path]:
    """Write overlays, the grid figure, explain.json and the mechanism's weights under ``out``."""
    from hynas.explain.render import display_images, write_grid, write_overlays

    k = len(res.classes)
    mean, std = data.stats() if hasattr(data, "stats") else (None, None)
    images = display_images(data.val_x[:k], mean, std)
    names = [f"{i:03d}_class{int(c)}" for i, c in enumerate(res.classes)]
    paths: list[Path] = []
    for title, maps in res.maps.items():
        paths += write_overlays(out / title.lower().replace("-", ""), images, maps, names)
    shown = min(k, 8)
    paths.append(write_grid(out / "maps.png", images[:shown], {m: v[:shown] for m, v in res.maps.items()},
                            [f"pred {int(c)}" for c in res.classes[:shown]]))
    info = {"model": loaded.source, "data": data_name, "config": asdict(cfg), **res.summary()}
    (out / "explain.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    paths.append(out / "explain.json")
    if res.explainer is not None:
        torch.save(res.explainer.attention.state_dict(), out / "attention.pt")
        paths.append(out / "attention.pt")
    return paths
