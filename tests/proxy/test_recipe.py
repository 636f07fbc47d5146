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


# ---------------------------------------------------------------------- the CLI flags of the trainer's knobs

@pytest.mark.parametrize(("flags", "message"), [
    ({"threads": -1}, "--threads: -1 is not an integer in range. Allowed: an integer from 0 to 1024"),
    ({"loader_workers": 65}, "--loader-workers: 65 is not an integer in range. Allowed: an integer from 0 to 64"),
    ({"teacher": "t.py", "distill_temperature": 0.0}, "--distill-temperature: 0.0 is out of range. Allowed: a number > 0"),
    ({"teacher": "t.py", "distill_weight": 1.5}, "--distill-weight: 1.5 is out of range. Allowed: a number >= 0 and <= 1"),
    ({"distill_weight": 0.3}, "--distill-weight sets how a teacher is distilled, and no --teacher"),
])
def test_trainer_knob_flags_are_validated(flags: dict, message: str) -> None:
    from hynas.proxy.recipe import recipe_from_options

    with pytest.raises(UserError) as e:
        recipe_from_options(None, default_steps=300, **flags)
    assert message in str(e.value), str(e.value)


def test_trainer_knob_flags_set_the_recipe_and_its_line(tmp_path: Path) -> None:
    from hynas.proxy.recipe import describe, recipe_from_options

    f = tmp_path / "r.yaml"
    f.write_text("threads: 3\nteacher: t.py\ndistill_temperature: 2\n")
    r = recipe_from_options(str(f), default_steps=300, loader_workers=0, distill_weight=0.25)
    assert (r.threads, r.loader_workers, r.distill_temperature, r.distill_weight) == (3, 0, 2, 0.25)
    assert r.cpu_threads() == 3 and TrainRecipe.from_dict(r.to_dict()) == r
    line = describe(r, 32)
    assert "0 loader workers for streamed data" in line and "distilled from t.py (T 2, weight 0.25)" in line


def test_recipe_line_names_label_smoothing_only_for_tasks_whose_loss_uses_it() -> None:
    from hynas.proxy.recipe import describe
    from hynas.proxy.tasks import TASKS

    r = TrainRecipe(label_smoothing=0.2)
    for name in TASKS.names():
        line = describe(r, 32, smoothed=TASKS.get(name).smoothed)
        assert ("label smoothing 0.2" in line) == (name in ("classify", "segment")), (name, line)


def test_a_tasks_smoothed_flag_says_what_its_loss_does() -> None:
    import torch

    from hynas.proxy.tasks import TASKS

    g = torch.Generator().manual_seed(0)
    inputs = {"classify": (torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)),
              "binary": (torch.randn(8, 2, generator=g), torch.randint(0, 2, (8,), generator=g)),
              "segment": (torch.randn(2, 3, 4, 4, generator=g), torch.randint(0, 3, (2, 4, 4), generator=g)),
              "separate": (torch.randn(2, 2, 64, generator=g), torch.randn(2, 2, 64, generator=g))}
    assert set(inputs) == set(TASKS.names())
    for name, (out, y) in inputs.items():
        task = TASKS.get(name)
        changed = not torch.allclose(task.loss(out, y, 0.0), task.loss(out, y, 0.5))
        assert changed == task.smoothed, name


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``hynas ARGV`` in-process: (exit code, stdout + stderr)."""
    from hynas.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(("flag", "value", "allowed"), [
    ("--threads", "2000", "from 0 to 1024"), ("--loader-workers", "-1", "from 0 to 64"),
    ("--distill-temperature", "4", "with --teacher FILE"),
])
def test_bad_knob_flags_exit_2_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str,
                                                 value: str, allowed: str) -> None:
    code, out = _cli(["search", "--budget", "1", "--run-dir", str(tmp_path / "run"), flag, value], capsys)
    assert code == 2 and flag in out and allowed in out and "Traceback" not in out, out
    assert not (tmp_path / "run").exists()


def test_knob_flags_in_the_recipe_line_and_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real search with the flags, then a distilled one whose teacher is the first run's export."""
    import json

    base = ["search", "--budget", "1", "--train-steps", "2", "--sampler", "random", "--predict", "--no-calibrate"]
    code, out = _cli([*base, "--run-dir", str(tmp_path / "a"), "--threads", "1", "--loader-workers", "0"], capsys)
    assert code == 0 and "cpu" in out and ", 1 thread;" in out and "0 loader workers" in out, out
    rec = json.loads((tmp_path / "a" / "run.json").read_text())["config"]["recipe"]
    assert (rec["threads"], rec["loader_workers"]) == (1, 0)
    teacher = tmp_path / "teacher" / "model.py"
    code, out = _cli(["export", str(tmp_path / "a"), "--out", str(teacher), "--weights"], capsys)
    assert code == 0, out
    code, out = _cli([*base, "--run-dir", str(tmp_path / "b"), "--threads", "1", "--teacher", str(teacher),
                      "--distill-temperature", "2", "--distill-weight", "0.3"], capsys)
    assert code == 0 and f"distilled from {teacher} (T 2, weight 0.3)" in out and "1 complete" in out, out
    rec = json.loads((tmp_path / "b" / "run.json").read_text())["config"]["recipe"]
    assert (rec["distill_temperature"], rec["distill_weight"], rec["teacher"]) == (2, 0.3, str(teacher))
