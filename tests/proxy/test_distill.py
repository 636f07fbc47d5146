"""Knowledge distillation: a teacher from a checkpoint or an exported model file trains a student."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from hynas.build import build_model
from hynas.errors import UserError
from hynas.proxy.data import load_dataset
from hynas.proxy.distill import distillation_loss, teacher_from_checkpoint, teacher_from_export
from hynas.proxy.trainer import train_proxy
from hynas.space import load_space, sample


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    data = load_dataset("digits")
    arch = sample(load_space("default"), random.Random(3)).with_input(channels=1, classes=10, resolution=32)
    torch.manual_seed(0)
    teacher = build_model(arch)
    train_proxy(teacher, data, steps=5, batch_size=16, seed=0)
    folder = tmp_path_factory.mktemp("teacher")
    torch.save(teacher.state_dict(), folder / "model.pt")
    (folder / "arch.json").write_text(arch.to_json())
    return data, arch, teacher.eval(), folder


def test_checkpoint_teacher_matches_and_distils(setup) -> None:
    data, _, teacher, folder = setup
    loaded = teacher_from_checkpoint(folder / "model.pt", folder / "arch.json")
    x = data.val_x[:8]
    assert torch.allclose(loaded(x), teacher(x))
    student = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(16, 10))
    res = train_proxy(student, data, steps=8, batch_size=16, loss_fn=distillation_loss(loaded, temperature=4.0))
    assert res.steps == 8 and res.train_loss > 0 and 0 <= res.val_accuracy <= 1


def test_exported_model_file_teacher(setup) -> None:
    from hynas.export.codegen import generate_source

    data, arch, teacher, folder = setup
    (folder / "model.py").write_text(generate_source(arch))
    loaded = teacher_from_export(folder / "model.py")  # weights: model.pt beside it
    assert torch.allclose(loaded(data.val_x[:4]), teacher(data.val_x[:4]), atol=1e-5)


def test_distillation_loss_is_ce_when_student_equals_teacher(setup) -> None:
    data, _, teacher, _ = setup
    x, y = data.val_x[:16], data.val_y[:16]
    logits = teacher(x)
    full = distillation_loss(teacher, alpha=0.5)(logits, x, y)
    assert torch.isclose(full, 0.5 * torch.nn.functional.cross_entropy(logits, y), atol=1e-5)  # KL(t||t) = 0


def test_missing_or_bad_weights_are_user_errors(tmp_path: Path, setup) -> None:
    _, _, _, folder = setup
    with pytest.raises(UserError, match="not found"):
        teacher_from_checkpoint(tmp_path / "none.pt", folder / "arch.json")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="tensors-only"):
        teacher_from_checkpoint(tmp_path / "bad.pt", folder / "arch.json")


def test_recipe_teacher_distils_and_refuses_mismatches(setup, tmp_path: Path) -> None:
    from hynas.export.codegen import generate_source
    from hynas.proxy.recipe import TrainRecipe

    data, arch, _, folder = setup
    (folder / "model.py").write_text(generate_source(arch))
    student = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, 10))
    recipe = TrainRecipe(steps=6, batch_size=16, teacher=str(folder), distill_temperature=2.0, distill_weight=0.7)
    res = train_proxy(student, data, recipe=recipe)  # a folder holding model.py + model.pt
    assert res.steps == 6 and res.train_loss > 0
    assert recipe.fingerprint() != recipe.updated(distill_weight=0.5).fingerprint()
    other = arch.with_input(classes=7)
    (tmp_path / "model.py").write_text(generate_source(other))
    torch.save(build_model(other).state_dict(), tmp_path / "model.pt")
    with pytest.raises(UserError, match="predicts 7 classes, digits has 10"):
        train_proxy(student, data, recipe=recipe.updated(teacher=str(tmp_path / "model.py")))
    (tmp_path / "junk.py").write_text("this is not python(")
    with pytest.raises(UserError, match="not a model file written by `hynas export`"):
        train_proxy(student, data, recipe=recipe.updated(teacher=str(tmp_path / "junk.py")))
    with pytest.raises(UserError, match="no such model file"):
        train_proxy(student, data, recipe=recipe.updated(teacher=str(tmp_path / "absent.py")))
