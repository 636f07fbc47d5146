"""hynas.create_model / list_models / `hynas info NAME` / `hynas list models` on the shipped references."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import hynas
from hynas import models
from hynas.cli import main
from hynas.cost import count_params
from hynas.errors import UserError
from hynas.resources import references_dir
from hynas.space import fixed_arch, load_space, sample

REFERENCES = sorted(p.stem for p in references_dir().glob("*.yaml"))


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_models_is_the_reference_folder() -> None:
    assert REFERENCES and "nextvit_s" in REFERENCES
    assert hynas.list_models() == REFERENCES


def test_a_reference_added_to_the_folder_is_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (references_dir() / "lowformer_b0.yaml").read_text(encoding="utf-8")
    (tmp_path / "my_lowformer.yaml").write_text(text.replace("name: lowformer_b0", "name: my_lowformer"))
    monkeypatch.setattr(models, "references_dir", lambda: tmp_path)
    assert models.list_models() == ["my_lowformer"]
    with torch.device("meta"):
        y = models.create_model("my_lowformer", num_classes=4)(torch.zeros(1, 3, 224, 224))
    assert tuple(y.shape) == (1, 4)


@pytest.mark.parametrize("name", REFERENCES)
def test_every_reference_builds_with_other_classes_and_channels(name: str) -> None:
    arch = fixed_arch(load_space(references_dir() / f"{name}.yaml"))
    fields = "fields" in arch.input  # a field model's columns are its schema's: in_chans does not apply
    with torch.device("meta"):  # shapes only: no weights are initialized, no compute is done
        model = hynas.create_model(name, num_classes=7, **({} if fields else {"in_chans": 1}))
        y = model(torch.zeros(arch.with_input(channels=None if fields else 1).input_shape(2)))
        default = hynas.create_model(name)
    assert isinstance(model, torch.nn.Module)
    assert tuple(y.shape[:2]) == (2, 7)  # dense references keep their spatial axes after these
    if arch.input["classes"] > 7:  # 7 classes and 1 channel: fewer weights than 1000 and 3
        assert count_params(model) < count_params(default)


def test_create_model_is_a_real_trainable_network() -> None:
    model = hynas.create_model("lowformer_b0", num_classes=3)
    x = torch.randn(2, 3, 64, 64)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_create_model_from_a_space_and_arch_json(tmp_path: Path) -> None:
    arch = sample(load_space("default"), random.Random(3))
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json(indent=2))
    model = hynas.create_model("default", arch=path, num_classes=5)
    res = arch.input["resolution"]
    y = model(torch.zeros(1, arch.input["channels"], res, res))
    assert tuple(y.shape) == (1, 5)
    other = sample(load_space("ascan"), random.Random(0))
    with pytest.raises(UserError, match="not an architecture of the space 'default'"):
        hynas.create_model("default", arch=other)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "nextvit_ss"}, r"unknown model 'nextvit_ss'\. Reference models: .*nextvit_s"),
    ({"name": "nextvit_s", "num_classes": 0}, r"num_classes=0: expected an integer in 1\.\."),
    ({"name": "nextvit_s", "num_classes": True}, r"num_classes=True"),
    ({"name": "nextvit_s", "in_chans": "3"}, r"in_chans='3'"),
    ({"name": "nextvit_s", "in_chans": 4097}, r"in_chans=4097: expected an integer in 1\.\.4096"),
    ({"name": "nextvit_s", "arch": "a.json"}, r"'nextvit_s' is not a shipped space\. Allowed: .*default"),
    ({"name": "default", "arch": "missing.json"}, r"arch missing.json: file not found"),
])
def test_create_model_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UserError, match=match):
        hynas.create_model(**kwargs)


def test_import_hynas_and_list_models_import_no_torch() -> None:
    code = "import sys, hynas; n = hynas.list_models(); assert 'torch' not in sys.modules, 'torch'; print(len(n))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(REFERENCES)


def test_info_takes_a_reference_name(capsys: Any) -> None:
    code, out, _ = run_cli(["info", "nextvit_s", "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["resolution"] == 224
    assert info["params"] == count_params(hynas.create_model("nextvit_s"))
    code, by_path, _ = run_cli(["info", str(references_dir() / "nextvit_s.yaml"), "--json"], capsys)
    assert code == 0 and json.loads(by_path) == info


def test_info_and_show_refuse_an_unknown_name_listing_the_references(capsys: Any) -> None:
    for cmd in ("info", "show"):
        code, out, err = run_cli([cmd, "nextvit"], capsys)
        assert code == 2 and not out
        assert "'nextvit' is neither a file nor a reference model" in err
        assert all(n in err for n in REFERENCES)
        assert "Traceback" not in err


def test_show_takes_a_reference_name(capsys: Any) -> None:
    code, out, _ = run_cli(["show", "caformer_s18"], capsys)
    assert code == 0
    assert out.startswith("caformer_s18: ") and "1000 classes" in out


def test_list_models_counts_each_reference(capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("lowformer_b0", "convit_ti"):
        shutil.copy(references_dir() / f"{name}.yaml", tmp_path)
    monkeypatch.setattr(models, "references_dir", lambda: tmp_path)
    code, out, _ = run_cli(["list", "models"], capsys)
    assert code == 0
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^(\w+)\s+224\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE)}
    assert sorted(rows) == ["convit_ti", "lowformer_b0"]
    for c in models.model_costs():
        assert rows[c.name] == (round(c.params / 1e6, 2), round(c.macs / 1e9, 2))
    assert rows["lowformer_b0"][0] == round(count_params(hynas.create_model("lowformer_b0")) / 1e6, 2)


def test_list_unknown_names_models(capsys: Any) -> None:
    code, _, err = run_cli(["list", "modelz"], capsys)
    assert code == 2 and "models" in err and "blocks" in err
