"""``hynas export`` of a run searched on RGB data writes the network the run trained: 3 channels, the data's classes.

The default space is written for 1-channel 32-px digits with 10 classes; a search on a 3-channel,
4-class ``.npz`` trains 3-channel, 4-class candidates, and the export (without ``--train-steps``)
must write that network, in model.py and in the ONNX file, not the space's 1-channel one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hynas.export.codegen import load_generated
from tests.cli import run_cli

CHANNELS, CLASSES, SIZE = 3, 4, 32


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real two-candidate search on a generated RGB .npz (its data file, its run directory)."""
    root = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    data = root / "rgb.npz"
    x = (rng.random((96, SIZE, SIZE, CHANNELS)) * 255).astype(np.uint8)
    np.savez(data, x_train=x, y_train=np.arange(96) % CLASSES)
    run = root / "run"
    capsys = _Capture()
    code, err = run_cli(["search", "--dataset", str(data), "--budget", "2", "--train-steps", "2", "--sampler",
                         "random", "--predict", "--no-calibrate", "--run-dir", str(run)], capsys)
    assert code == 0, err
    return data, run


class _Capture:
    """``run_cli`` in a module fixture, where pytest's capsys is not available."""

    def readouterr(self) -> object:
        return type("Out", (), {"out": "", "err": ""})()


def _export(run: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    return run_cli(["export", str(run), "--out", str(out), *extra], capsys)


def _check_model_py(path: Path) -> None:
    mod = load_generated(path.read_text(encoding="utf-8"), "rgb_export")
    assert mod.ARCH["input"] == {"channels": CHANNELS, "classes": CLASSES, "resolution": SIZE}
    net = mod.build().eval()
    with torch.no_grad():
        assert tuple(net(torch.randn(2, CHANNELS, SIZE, SIZE)).shape) == (2, CLASSES)


def test_export_without_training_has_the_data_channels_and_classes(rgb_run: tuple[Path, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime as ort

    code, err = _export(rgb_run[1], tmp_path / "model.py", capsys, "--onnx")
    assert code == 0, err
    _check_model_py(tmp_path / "model.py")
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [CHANNELS, SIZE, SIZE]
    (logits,) = sess.run(None, {"input": np.zeros((1, CHANNELS, SIZE, SIZE), np.float32)})
    assert logits.shape == (1, CLASSES)


def test_export_with_training_agrees(rgb_run: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _export(rgb_run[1], tmp_path / "model.py", capsys, "--train-steps", "2")
    assert code == 0, err
    _check_model_py(tmp_path / "model.py")
    net = load_generated((tmp_path / "model.py").read_text(encoding="utf-8"), "rgb_trained").build()
    net.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))


def test_recorded_data_is_used_and_missing_data_is_a_clear_error(rgb_run: tuple[Path, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """With the dataset gone, a run.json that records its data still exports; one that does not says why not."""
    import shutil

    data, run = rgb_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    moved = tmp_path / "elsewhere.npz"
    data.rename(moved)
    try:
        code, err = _export(copy, tmp_path / "a" / "model.py", capsys)
        assert code == 2 and "channels and classes" in err and str(data) in err, err
        assert not (tmp_path / "a").exists()
        meta = json.loads((copy / "run.json").read_text())
        meta["data"] = {"name": "rgb", "channels": CHANNELS, "classes": CLASSES, "resolution": SIZE}
        (copy / "run.json").write_text(json.dumps(meta))
        code, err = _export(copy, tmp_path / "b" / "model.py", capsys)
        assert code == 0, err
        _check_model_py(tmp_path / "b" / "model.py")
    finally:
        moved.rename(data)
