"""Everything ``hynas export`` writes for one picked trial: model.py, optional weights and ONNX.

Weights are a plain ``state_dict`` saved with ``torch.save`` (tensors only), so
``torch.load(path, weights_only=True)`` reads them without unpickling code, and they load
into the generated file's ``build()`` because the generated network has the same module
tree as ``hynas.build.build_model``. With ``train_steps`` the arch is first set to the
run's dataset (channels, classes, resolution: what the proxy trained) and trained by the
run's own proxy trainer, with the run's seed.
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
    arch, data = trial.arch, None
    if train_steps > 0:
        from hynas.proxy.data import load_dataset

        data = load_dataset(cfg["dataset"])
        arch = arch.with_input(channels=data.channels, classes=data.classes, resolution=data.resolution)
    scores = dict(trial.values)
    model = None
    accuracy = None
    if weights or onnx:
        torch.manual_seed(int(cfg.get("seed", 0)))
        model = build_model(arch)
        if data is not None:
            from hynas.proxy.trainer import train_proxy

            res = train_proxy(model, data, steps=train_steps, seed=int(cfg.get("seed", 0)))
            accuracy = float(res.val_accuracy)
            scores[f"accuracy_after_{train_steps}_steps"] = accuracy
        model.eval()
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
