"""The wheel as a user installs it: built, installed (not editable) into a fresh venv, run from elsewhere.

The fresh venv reaches the dependencies already installed in the test's environment through
a ``.pth`` line naming that environment's site-packages (that adds the folder to sys.path but
does not run the editable install's own ``.pth`` finder), so the hynas it imports is the
wheel's, and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "hynas", "search_spaces", "predictors")
SHIPPED = {"search_spaces": "*.yaml", "predictors": "*.json"}


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 240) -> str:
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"{' '.join(argv)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (no build folder shared with the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=ignore)
        else:
            shutil.copy2(p, src / name)
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(tmp / "dist")], cwd=tmp)
    (whl,) = (tmp / "dist").glob("hynas-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A fresh venv with the wheel installed (not editable); returns its bin folder."""
    root = wheel.parent.parent / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=wheel.parent)
    py = root / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).strip()
    Path(purelib, "_hynas_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         cwd=root)
    return root / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYNAS_PREDICTORS", "PYTHONHOME")}
    return env | {"HYNAS_THREADS": "1", "OMP_NUM_THREADS": "1"}


def test_wheel_carries_spaces_references_predictors_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern in SHIPPED.items():
        files = sorted((REPO / folder).rglob(pattern))
        assert files, folder
        for f in files:
            assert f"hynas/_shipped/{folder}/{f.relative_to(REPO / folder).as_posix()}" in names, f
    assert any(n.startswith("hynas/_shipped/search_spaces/reference/nextvit_s.yaml") for n in names)
    for f in (REPO / "hynas" / "data").rglob("*") if (REPO / "hynas" / "data").is_dir() else []:
        if f.is_file() and "__pycache__" not in f.parts:
            assert f.relative_to(REPO).as_posix() in names, f
    assert not any(n.startswith(("search_spaces/", "predictors/", "tests/")) for n in names)


def test_installed_wheel_works_from_another_directory(venv: Path, tmp_path: Path) -> None:
    env = _env()
    code = "import hynas, hynas.resources as r; print(hynas.__file__); print(r.spaces_dir()); print(r.predictors_dir())"
    where = _run([str(venv / "python"), "-c", code], tmp_path, env)
    pkg, spaces, predictors = (Path(line) for line in where.split())
    root = venv.parent.resolve()
    for p in (pkg, spaces, predictors):
        assert p.resolve().is_relative_to(root), p  # the wheel's copy, not the checkout
    assert spaces.name == "search_spaces" and predictors.name == "predictors"

    out = _run([str(venv / "hynas"), "space", "default"], tmp_path, env)
    assert out.startswith("default: ") and " architectures " in out and str(root) in out

    from hynas.models import reference_arch

    out = _run([str(venv / "hynas"), "info", "nextvit_s"], tmp_path, env)
    assert out.startswith(reference_arch("nextvit_s").hash)
    assert "resolution 224x224: params 31.763 M" in out

    out = _run([str(venv / "hynas"), "search", "--space", "default", "--target", "ort-cpu", "--proxy", "naswot",
                "--budget", "1", "--predict", "--run-dir", "run"], tmp_path, env)
    # the shipped predictor inside the installed wheel is the one used (as is, or calibrated here on arrival)
    latency = [ln for ln in out.splitlines() if ln.startswith("latency: predicted")]
    assert latency and any(str(root) in ln or str(venv.parent) in ln for ln in latency), out
    assert "1 complete" in out, out
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta, "run.json is empty"
    assert not (tmp_path / "predictors").exists() and not (tmp_path / "search_spaces").exists()


def test_installed_wheel_honours_hynas_predictors(venv: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(REPO / "predictors" / "ort-cpu.json", mine)
    code = ("import os; from hynas.latency.predictor import find_predictor; print(find_predictor('ort-cpu')); "
            f"os.environ['HYNAS_PREDICTORS'] = {str(mine)!r}; print(find_predictor('ort-cpu'))")
    shipped, override = (Path(p) for p in _run([str(venv / "python"), "-c", code], tmp_path, _env()).split())
    assert shipped.resolve().is_relative_to(venv.parent.resolve()) and "_shipped" in shipped.parts
    assert override == mine / "ort-cpu.json"
