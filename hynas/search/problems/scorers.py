"""The accuracy proxies a search can score candidates with (``--proxy``), one registry for all of them.

``train`` (short training, ``hynas.proxy.trainer``) is registered here beside an adapter for
every zero-cost proxy of ``hynas.proxy.zero_cost``, so the evaluator, the CLI's name check,
plots and reports look a proxy up by name instead of testing for ``"train"``. A scorer
says what its value is (``label``: name and unit) for displays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hynas.registry import Registry

Score = Callable[[Any, Any, Any, Any], tuple[float, dict[str, Any]]]  # (model, data, cfg, report) -> (value, attrs)


@dataclass(frozen=True)
class Scorer:
    name: str
    run: Score
    trains: bool  # reads --train-steps and reports intermediate accuracies (rung pruning)
    unit: str  # "fraction" (an accuracy) or "score" (a zero-cost ranking value, not an accuracy)

    def detail(self, cfg: Mapping[str, Any]) -> str:
        """What sets this proxy's fidelity in a run config ('300 steps'; '' when nothing does)."""
        return f"{cfg['train_steps']} steps" if self.trains else ""

    def label(self, cfg: Mapping[str, Any]) -> str:
        """The objective named by what it is, e.g. 'held-out accuracy, train 300 steps on digits (fraction)'."""
        if self.trains:
            metric = cfg.get("metric") or "accuracy"
            unit = "dB" if "dB" in metric else "fraction"
            return f"held-out {metric.replace(' (dB)', '')}, train {self.detail(cfg)} on {cfg['dataset']} ({unit})"
        return f"{self.name} zero-cost score (higher is better; not an accuracy)"

    def short(self) -> str:
        """A column-width name for the objective: 'acc' or the proxy's name."""
        return "acc" if self.unit == "fraction" else self.name


class _Scorers(Registry[Scorer]):
    """``train`` is known without torch; the zero-cost adapters are added on the first lookup of another name."""

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from hynas.proxy.zero_cost import ZERO_COST

        for name in ZERO_COST.names():
            self.register(name, Scorer(name, _zero_cost(name), trains=False, unit="score"))

    def get(self, name: str) -> Scorer:
        return self._items[name] if name in self._items else super().get(name)


SCORERS = _Scorers("proxy", loader="hynas.proxy.zero_cost")


def _train(model: Any, data: Any, cfg: Any, report: Any) -> tuple[float, dict[str, Any]]:
    from hynas.proxy.tasks import task_of
    from hynas.proxy.trainer import train_proxy

    res = train_proxy(model, data, recipe=cfg.train_recipe(), report=report)
    return float(res.val_accuracy), {"train_seconds": round(res.seconds, 2), "train_loss": float(res.train_loss),
                                     "history": [list(h) for h in res.history], "metric": task_of(data).metric,
                                     **({"task_scores": res.scores} if res.scores else {}),
                                     "train_resolution": res.resolution, "images_per_s": round(res.images_per_s, 1)}


def _zero_cost(name: str) -> Score:
    def run(model: Any, data: Any, cfg: Any, report: Any) -> tuple[float, dict[str, Any]]:
        from hynas.proxy.zero_cost import score

        s = float(score(name, model, data, seed=cfg.seed, size=cfg.train_recipe().train_size(data.resolution)))
        return s, {"proxy_score": s}

    return run


SCORERS.register("train", Scorer("train", _train, trains=True, unit="fraction"))


def objective_labels(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Each objective named by what it is, with its unit, for a run config (run.json's "config"):
    the dashboard's metric names and the axis labels of plots and reports."""
    kept = " with the bridge blocks fp32" if cfg.get("int8_keep_bridges") else ""
    sizes = {"params_m": "params (M)", "macs_g": "MACs (G)",
             "shape_sensitivity": "shape sensitivity (held-out accuracy minus accuracy on shape-disrupted copies)",
             "accuracy_int8": f"held-out accuracy in int8{kept} (ort-cpu-int8 static QDQ, onnxruntime; fraction)"}
    if cfg.get("table"):
        from hynas.nb201 import SHIPPED_TABLES, TableColumns

        default = SHIPPED_TABLES.get(str(cfg["table"]), ("", TableColumns()))[1]
        acc = cfg.get("table_accuracy") or default.accuracy
        lat = cfg.get("table_latency") or default.latency
        return {"accuracy": f"{acc} (table)", "latency_ms": f"latency ms ({lat}, table)", **sizes}
    acc = SCORERS.get(cfg.get("proxy", "train")).label(cfg)
    return {"accuracy": acc, "latency_ms": f"latency ms on {cfg.get('target', '?')}", **sizes}


def short_name(cfg: Mapping[str, Any]) -> str:
    """A column-width name of a run's accuracy objective: 'acc' (an accuracy) or the zero-cost proxy's name."""
    return "acc" if cfg.get("table") else SCORERS.get(cfg.get("proxy", "train")).short()
