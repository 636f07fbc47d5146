"""Everything ``hynas export`` writes for one picked trial: model.py, optional weights and ONNX.

Weights are a plain ``state_dict`` saved with ``torch.save`` (tensors only), so
``torch.load(path, weights_only=True)`` reads them without unpickling code, and they load
into the generated file's ``build()`` because the generated network has the same module
tree as ``hynas.build.build_model``. The arch is written at the size the run built and
timed its candidates at (``input_resolution``: the recipe's resolution, else the data's).
With ``train_steps`` it is first set to the run's dataset (channels, classes) and trained
by the run's own recipe (at that full size, not a reduced proxy resolution), with the
run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hynas.results.trials import Run, TrialRecord


@dataclass
class Bundle:
    source: Path
    weights: Path | None = None
    onnx: Path | None = None
    accuracy: float | None = None  # held-out accuracy after training (None when not trained)


def export_bundle(run: Run, trial: TrialRecord, dest: Path, *, pick: str, weights: bool = False,
                  onnx: bool = False, train_steps: int = 0) -> Bundle:
    import torch

    from hynas.build import build_model
    from hynas.export.codegen import generate_source

    cfg = run.meta["config"]
    arch, data, recipe = trial.arch, None, None
    if cfg.get("input_resolution"):  # the size the run built and timed its candidates at
        arch = arch.with_input(resolution=int(cfg["input_resolution"]))
    if train_steps > 0:
        from dataclasses import replace

        from hynas.proxy.data import load_dataset
        from hynas.proxy.recipe import TrainRecipe

        base = TrainRecipe.from_dict(cfg["recipe"]) if cfg.get("recipe") else TrainRecipe()
        # The run's recipe at full size (no reduced proxy resolution), for train_steps steps.
        recipe = replace(base, steps=train_steps, epochs=None, proxy_resolution=None, seed=int(cfg.get("seed", 0)),
                         resolution=cfg.get("input_resolution") or base.resolution)
        data = load_dataset(cfg["dataset"], recipe=recipe)
        arch = arch.with_input(channels=data.channels, classes=data.classes,
                               resolution=recipe.model_size(data.resolution))
    scores = dict(trial.values)
    model = None
    accuracy = None
    if weights or onnx:
        torch.manual_seed(int(cfg.get("seed", 0)))
        model = build_model(arch)
        if data is not None:
            from hynas.proxy.trainer import train_proxy

            res = train_proxy(model, data, recipe=recipe)
            accuracy = float(res.val_accuracy)
            scores[f"accuracy_after_{train_steps}_steps"] = accuracy
        model = model.cpu().eval()  # trained on the recipe's device; saved and exported from the CPU
    title = f"Trial {trial.number} of the hynas run {run.path} (pick: {pick})."
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(generate_source(arch, title=title, scores=scores), encoding="utf-8")
    out = Bundle(dest, accuracy=accuracy)
    if weights and model is not None:
        out.weights = dest.with_suffix(".pt")
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out.weights)
    if onnx and model is not None:
        from hynas.export.onnx import export_onnx

        out.onnx = export_onnx(arch, dest.with_suffix(".onnx"), model=model)
    return out
