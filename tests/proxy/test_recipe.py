"""TrainRecipe: validated like a space file, round-trips through run.json, hashes stably."""

from __future__ import annotations

from pathlib import Path

import pytest

from hynas.errors import SpecError, UserError
from hynas.proxy.recipe import AUGMENTS, TrainRecipe, default_threads


def test_round_trip_and_fingerprint() -> None:
    r = TrainRecipe(steps=50, batch_size=32, augment="light", resolution=96, proxy_resolution=64, seed=3)
    assert TrainRecipe.from_dict(r.to_dict()) == r
    assert r.fingerprint() == TrainRecipe.from_dict(r.to_dict()).fingerprint()
    assert r.fingerprint() != r.updated(lr=1e-3).fingerprint()
    assert len(r.fingerprint()) == 16


def test_yaml_file_with_flags_on_top(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("epochs: 2\nbatch_size: 16\noptimizer: sgd\nschedule: step\nresolution: 64\n")
    r = TrainRecipe.from_yaml(f)
    assert (r.steps, r.epochs, r.optimizer, r.schedule) == (None, 2, "sgd", "step")
    assert r.total_steps(100) == 2 * (100 // 16)
    assert TrainRecipe.from_yaml(f, steps=7).total_steps(100) == 7  # a flag replaces the file's epochs
    assert r.train_size(32) == 64 and r.model_size(32) == 64
    assert TrainRecipe(proxy_resolution=16).train_size(32) == 16 and TrainRecipe().model_size(32) == 32


@pytest.mark.parametrize(("text", "field", "allowed"), [
    ("augment: heavy\n", "augment", "'standard'"),
    ("batch_size: 0\n", "batch_size", "from 1 to 65536"),
    ("lr: -1\n", "lr", "> 0"),
    ("device: gpu\n", "device", "cuda:N"),
    ("precision: fp8\n", "precision", "'bf16'"),
    ("steps: true\n", "steps", "an integer"),
    ("colour: red\n", "colour", "batch_size"),
    ("resolution: 64\nproxy_resolution: 96\n", "proxy_resolution", "at most 64"),
])
def test_bad_values_name_file_field_and_allowed(tmp_path: Path, text: str, field: str, allowed: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SpecError) as e:
        TrainRecipe.from_yaml(f)
    msg = str(e.value)
    assert str(f) in msg and f"'{field}'" in msg and allowed in msg, msg


def test_steps_and_epochs_exclusive_and_flag_errors() -> None:
    with pytest.raises(SpecError, match="exactly one of steps and epochs"):
        TrainRecipe(steps=10, epochs=1.0)
    with pytest.raises(UserError, match=r"--batch-size: .*Allowed: an integer from 1"):
        TrainRecipe().updated(batch_size=-3)
    with pytest.raises(UserError, match="--augment: 'strong' is not a known augment"):
        TrainRecipe().updated(augment="strong")
    with pytest.raises(SpecError, match="mapping"):
        TrainRecipe.from_dict([1, 2])


def test_augment_names_match_the_registry() -> None:
    from hynas.proxy.augment import PRESETS

    assert sorted(AUGMENTS) == PRESETS.names()


def test_threads_default_to_the_cpu_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("HYNAS_THREADS", raising=False)
    assert default_threads() == len(os.sched_getaffinity(0)) == TrainRecipe().cpu_threads()
    monkeypatch.setenv("HYNAS_THREADS", "1")
    assert TrainRecipe().cpu_threads() == 1 and TrainRecipe(threads=2).cpu_threads() == 2
