"""Generated model.py files match the built networks in a fresh interpreter without hynas.

The benchmark (benchmarks/export_equivalence.py) runs 200 archs per space; here a few per
space keep the default suite fast, shrunk (widths ÷4, the smallest input every block accepts:
same code, less work).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hynas.export.codegen import generate_source
from tests.export.equivalence import check_archs, shipped_archs

PER_SPACE = 3
SETS = shipped_archs(PER_SPACE, seed=1, divisor=4)


def test_generated_files_match_built_models_without_hynas(tmp_path: Path) -> None:
    """Every shipped space and reference, checked in one fresh interpreter (start-up paid once)."""
    archs = [a for v in SETS.values() for a in v]
    firsts = {v[0][0] for v in SETS.values()}
    results = check_archs(archs, tmp_path, onnx=firsts)
    assert len(results) == len(archs)
    for r in results:
        assert r.error is None, f"{r.name}: {r.error}"
        assert r.max_abs_diff is not None and r.max_abs_diff <= 1e-5, f"{r.name}: max abs diff {r.max_abs_diff}"
        if r.name in firsts:
            assert r.onnx, r.name
            _check_onnx_runs_the_same(tmp_path, r.name)


def _check_onnx_runs_the_same(workdir: Path, name: str) -> None:
    """The exported ONNX file is the network: one input, one output, and onnxruntime gives the built model's
    outputs on the reference input (not merely a non-empty file)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    x, y_ref = torch.load(workdir / f"{name}.io.pt", weights_only=True)
    sess = ort.InferenceSession(str(workdir / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert list(inp.shape) == list(x.shape), f"{name}: ONNX input {inp.shape} != {list(x.shape)}"
    (y,) = sess.run([out.name], {inp.name: x.numpy()})
    assert y.shape == tuple(y_ref.shape), f"{name}: ONNX output {y.shape} != {tuple(y_ref.shape)}"
    diff = float(np.abs(y - y_ref.numpy()).max())
    assert diff <= 1e-4 * max(1.0, float(y_ref.abs().max())), f"{name}: ONNX differs from the model by {diff}"


def test_generated_file_passes_ruff_and_py_compile(tmp_path: Path) -> None:
    """Every block type of every shipped space and reference, in files a linter accepts."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = []
    for archs in SETS.values():
        for name, arch in archs[:2]:
            p = tmp_path / f"{name}.py"
            p.write_text(generate_source(arch), encoding="utf-8")
            files.append(str(p))
    subprocess.run([sys.executable, "-m", "py_compile", *files], check=True)
    if not Path(ruff).exists():
        pytest.skip("ruff not installed")
    proc = subprocess.run([ruff, "check", "--isolated", *files], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_build_arguments_change_classes_and_channels(tmp_path: Path) -> None:
    import torch

    from hynas.export.codegen import load_generated

    _, arch = SETS["default"][0]
    mod = load_generated(generate_source(arch))
    net = mod.build(num_classes=7, in_chans=3).eval()
    res = arch.input["resolution"]
    with torch.no_grad():
        assert net(torch.zeros(1, 3, res, res)).shape == (1, 7)


def test_the_check_sees_a_wrong_network(tmp_path: Path) -> None:
    """Diffs of exactly 0 are common (same kernels, same order): this shows the check can still fail."""
    import torch

    from hynas.build import build_model
    from tests.export.equivalence import prepare, run_child

    name, arch = SETS["default"][0]
    job = dict(prepare(arch, name, tmp_path), onnx=False)
    torch.manual_seed(123)  # other weights for the same architecture: outputs must differ
    torch.save(build_model(arch).state_dict(), job["weights"])
    (check,) = run_child([job], tmp_path)
    assert check.error is None and check.max_abs_diff is not None and check.max_abs_diff > 1e-3
