"""Load the network to explain: an exported ``model.py`` (+ weights) or a run's picked trial.

Every failure here is a ``UserError`` naming the file: a missing file, a model file that
does not import or has no ``build()``, weights that are not a tensor ``state_dict`` or
belong to another architecture, data whose classes, channels or image size are not the
model's. Nothing is written by this module.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hynas.errors import UserError


@dataclass
class Loaded:
    model: nn.Module
    source: str  # what was loaded, for messages and the summary
    input: dict[str, int]  # channels, resolution, classes the model expects
    dataset: str | None = None  # the run's dataset when loaded from a run


def _import_file(path: Path) -> Any:
    name = f"hynas_explain_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{path}: not a Python file.")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses in the file look their module up by name
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # noqa: BLE001 - any error in a user's file is reported, never a traceback
        raise UserError(f"{path}: the model file does not load ({type(e).__name__}: {str(e)[:200]}).") from None
    finally:
        sys.modules.pop(name, None)
    return mod


def _weights(model: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise UserError(f"{path}: weights file not found (pass --weights, or export with --weights).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors have no common base class
        raise UserError(f"{path}: not a torch state_dict ({type(e).__name__}: {str(e)[:160]}).") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: expected a state_dict of tensors (torch.save(model.state_dict(), ...)).")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:300]
        raise UserError(f"{path}: these weights are of another architecture than the model file ({detail}).") from None


def _model_file(path: Path) -> Path:
    if path.is_dir():
        cand = path / "model.py"
        if not cand.is_file():
            raise UserError(f"{path}: no model.py in this folder (and no run.json: not a run directory).")
        return cand
    if not path.is_file():
        raise UserError(f"{path}: file not found.")
    if path.suffix != ".py":
        raise UserError(f"{path}: expected an exported model.py, a folder holding one, or a run directory.")
    return path


def load_exported(path: str | Path, weights: str | Path | None = None) -> Loaded:
    """``build()`` of an exported file, with its weights (default: the .pt next to it)."""
    src = _model_file(Path(path))
    mod = _import_file(src)
    build = getattr(mod, "build", None)
    if not callable(build):
        raise UserError(f"{src}: defines no build() function (is it a file written by `hynas export`?).")
    try:
        model = build()
    except Exception as e:  # noqa: BLE001 - the user's build() may raise anything
        raise UserError(f"{src}: build() failed ({type(e).__name__}: {str(e)[:200]}).") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"{src}: build() did not return a torch module.")
    _weights(model, Path(weights) if weights else src.with_suffix(".pt"))
    arch = getattr(mod, "ARCH", None)
    inp = dict(arch["input"]) if isinstance(arch, dict) and "input" in arch else {}
    return Loaded(model.eval(), str(src), inp)


def load_run(run_dir: str | Path, pick: str, train_steps: int, seed: int | None = None) -> Loaded:
    """The picked trial of a run, built at the run's dataset input and trained by the run's proxy trainer."""
    from hynas.build import build_model
    from hynas.export.pick import pick_trial
    from hynas.proxy.data import load_dataset
    from hynas.proxy.trainer import train_proxy
    from hynas.results.trials import load_run as read_run

    run = read_run(str(run_dir))
    trial = pick_trial(run, pick)
    cfg = run.meta["config"]
    data = load_dataset(cfg["dataset"])
    arch = trial.arch.with_input(channels=data.channels, classes=data.classes, resolution=data.resolution)
    s = int(cfg.get("seed", 0) if seed is None else seed)
    torch.manual_seed(s)
    model = build_model(arch)
    train_proxy(model, data, steps=train_steps, seed=s)
    return Loaded(model.eval(), f"{run_dir} trial {trial.number}", dict(arch.input), dataset=cfg["dataset"])


def check_data(loaded: Loaded, data: Any, data_name: str) -> None:
    """Refuse data the model cannot classify: other classes, channels or image size."""
    inp = loaded.input
    want_res, want_ch = inp.get("resolution"), inp.get("channels")
    if want_res is not None and data.resolution != want_res:
        raise UserError(f"{data_name}: images are {data.resolution}x{data.resolution} but {loaded.source} takes "
                        f"{want_res}x{want_res}.")
    if want_ch is not None and data.channels != want_ch:
        raise UserError(f"{data_name}: images have {data.channels} channel(s) but {loaded.source} takes {want_ch}.")
    x = data.val_x[:2]
    try:
        with torch.no_grad():
            logits = loaded.model(x)
    except Exception as e:  # noqa: BLE001 - a shape mismatch surfaces as any of several errors
        raise UserError(f"{data_name}: {loaded.source} cannot run on these images ({type(e).__name__}: "
                        f"{str(e)[:200]}).") from None
    if logits.ndim != 2 or logits.shape[1] != data.classes:
        raise UserError(f"{data_name}: {data.classes} classes but {loaded.source} predicts "
                        f"{logits.shape[-1]}: a data folder with other classes than the model's.")
