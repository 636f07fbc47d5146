"""Everything ``hynas export`` writes for one picked trial: model.py, optional weights and ONNX.

Weights are a plain ``state_dict`` saved with ``torch.save`` (tensors only), so
``torch.load(path, weights_only=True)`` reads them without unpickling code, and they load
into the generated file's ``build()`` because the generated network has the same module
tree as ``hynas.build.build_model``. The arch is written with the input the run's
candidates were trained on: the dataset's channels and classes (the space's ``input`` only
says what the space was written for; a 1-channel space searched on RGB data trained
3-channel candidates) and the size the run built and timed them at (``input_resolution``:
the recipe's resolution, else the data's). With ``train_steps`` it is then trained by the
run's own recipe (at that full size, not a reduced proxy resolution), with the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hynas.errors import UserError
from hynas.results.trials import Run, TrialRecord


@dataclass
class Bundle:
    source: Path
    weights: Path | None = None
    onnx: Path | None = None
    accuracy: float | None = None  # held-out accuracy after training (None when not trained)


def run_recipe(run: Run, train_steps: int = 0) -> Any:
    """The run's recipe; with ``train_steps``, at full size (no proxy resolution) for that many steps."""
    from hynas.proxy.recipe import TrainRecipe

    cfg = run.meta["config"]
    base = TrainRecipe.from_dict(cfg["recipe"]) if cfg.get("recipe") else TrainRecipe()
    base = base.with_seed(int(cfg.get("seed", 0)))
    if train_steps <= 0:
        return base
    return replace(base, steps=train_steps, epochs=None, proxy_resolution=None,
                   resolution=cfg.get("input_resolution") or base.resolution)


def run_input(run: Run, data: Any = None) -> dict[str, int]:
    """``channels``, ``classes`` and ``resolution`` of the run's candidates as trained and built.

    Read from the run's record of its data (``run.json`` ``data``: the dataset's ``describe()``)
    when the search wrote one; otherwise from ``data`` or, failing that, the run's dataset,
    described once (no training). A table search has no dataset: its arch is kept as searched.
    """
    cfg = run.meta["config"]
    if cfg.get("table"):
        return {}
    desc = run.meta.get("data")
    if not (isinstance(desc, dict) and {"channels", "classes"} <= set(desc)):
        desc = (data if data is not None else _load_run_data(run)).describe()
    native = desc.get("resolution", desc.get("length"))
    size = cfg.get("input_resolution") or run_recipe(run).model_size(native)
    out = {"channels": int(desc["channels"]), "classes": int(desc["classes"])}
    return {**out, "resolution": int(size)} if size else out


def _load_run_data(run: Run) -> Any:
    from hynas.proxy.data import load_dataset

    name = run.meta["config"]["dataset"]
    try:
        return load_dataset(name, recipe=run_recipe(run))
    except (UserError, OSError) as e:
        raise UserError(f"{run.path}: export reads the channels and classes the run trained on from its dataset "
                        f"'{name}', which cannot be read from here ({e}). Run the export where the search ran "
                        "(the same working directory and HYNAS_DATA).") from None


def export_bundle(run: Run, trial: TrialRecord, dest: Path, *, pick: str, weights: bool = False,
                  onnx: bool = False, train_steps: int = 0) -> Bundle:
    from hynas.export.codegen import generate_source

    data = None
    if train_steps > 0:
        from hynas.proxy.data import load_dataset

        data = load_dataset(run.meta["config"]["dataset"], recipe=run_recipe(run, train_steps))
    arch = trial.arch.with_input(**run_input(run, data))
    scores = dict(trial.values)
    model, accuracy = _model(run, arch, data, train_steps) if weights or onnx else (None, None)
    if accuracy is not None:
        scores[f"accuracy_after_{train_steps}_steps"] = accuracy
    title = f"Trial {trial.number} of the hynas run {run.path} (pick: {pick})."
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(generate_source(arch, title=title, scores=scores), encoding="utf-8")
    out = Bundle(dest, accuracy=accuracy)
    if weights and model is not None:
        import torch

        out.weights = dest.with_suffix(".pt")
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out.weights)
    if onnx and model is not None:
        from hynas.export.onnx import export_onnx

        out.onnx = export_onnx(arch, dest.with_suffix(".onnx"), model=model)
    return out


def _model(run: Run, arch: Any, data: Any, train_steps: int) -> tuple[Any, float | None]:
    """The exported network: built with the run's seed, trained ``train_steps`` steps when ``data`` is given."""
    import torch

    from hynas.build import build_model

    torch.manual_seed(int(run.meta["config"].get("seed", 0)))
    model = build_model(arch)
    accuracy = None
    if data is not None:
        from hynas.proxy.trainer import train_proxy

        res = train_proxy(model, data, recipe=run_recipe(run, train_steps))
        accuracy = float(res.val_accuracy)
    return model.cpu().eval(), accuracy  # trained on the recipe's device; saved and exported from the CPU
