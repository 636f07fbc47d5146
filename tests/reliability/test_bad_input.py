"""Bad input: every broken space file, flag or run directory gets a clear error, exit code 2.

A hypothesis property mutates the shipped spaces (wrong types, unknown keys, out-of-range
and huge values, removed keys, empty lists, code-like strings) and whole-file attacks
(non-UTF-8, anchor bombs, deep nesting, Python tags) are tried one by one. Each must end
as a ``SpecError`` naming the file (and the field, for a field problem), as exit code 2
from ``hynas space`` and ``hynas search`` with no traceback, and - for the search - with
no run directory left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from hynas.errors import SpecError
from hynas.space import load_space, shipped_spaces
from tests.cli import run_cli
from tests.reliability.mutants import RAW_ATTACKS, dump, mutated_docs

REPO = Path(__file__).resolve().parents[2]
SPACES = ["default", "ascan", "metaformer"]
FAST_EXAMPLES = 25  # per shipped space in the default suite; the slow soak runs SOAK_EXAMPLES
SOAK_EXAMPLES = 400




def check_refused(path: Path, capsys: Any, tmp_path: Path) -> str:
    """The file is refused by the loader, by `hynas space` and by `hynas search` the same clear way."""
    try:
        load_space(path)
    except SpecError as e:
        assert e.file and str(path) in str(e), str(e)
        err = e
    else:
        check_accepted(path, capsys)
        return "valid"
    code, stderr = run_cli(["space", str(path)], capsys)
    assert code == 2 and "Traceback" not in stderr and stderr.startswith("error: "), stderr
    assert str(err) in stderr
    run_dir = tmp_path / "run-should-not-exist"
    code, stderr = run_cli(["search", "--space", str(path), "--run-dir", str(run_dir), "--budget", "1"], capsys)
    assert code == 2 and "Traceback" not in stderr, stderr
    assert not run_dir.exists(), "a refused search left a run directory behind"
    return "field" if err.path else "file"


def check_accepted(path: Path, capsys: Any) -> None:
    """A mutant the loader accepts must really be a usable space, not one that fails later: `hynas space`
    shows it (exit 0), and a sample from it is a valid Arch (or the space is refused as infeasible, clearly)."""
    import random

    from hynas.errors import UserError
    from hynas.space import sample
    from hynas.space.arch import Arch

    code, stderr = run_cli(["space", str(path)], capsys)
    assert code == 0 and "Traceback" not in stderr, f"accepted by the loader, refused by `hynas space`: {stderr}"
    space = load_space(path)
    try:
        arch = sample(space, random.Random(0), max_tries=50)
    except UserError as e:  # InfeasibleSpace: the rules leave nothing; said clearly, before any search
        assert "Traceback" not in str(e) and str(e), "an infeasible space must say why"
        return
    assert Arch(arch.to_dict()).hash == arch.hash, "a sampled arch must survive its own serialisation"


def _property(space: str, examples: int) -> Any:
    base = yaml.safe_load(shipped_spaces()[space].read_text())

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutated_docs(base))
    def prop(tmp_path: Path, capsys: Any, case: tuple[Any, str]) -> None:
        doc, what = case
        path = tmp_path / "mutant.yaml"
        path.write_text(dump(doc), encoding="utf-8")
        try:
            outcomes.append(check_refused(path, capsys, tmp_path))
        except AssertionError as e:
            raise AssertionError(f"mutation [{what}]: {e}") from None

    outcomes: list[str] = []
    prop.outcomes = outcomes  # type: ignore[attr-defined]
    return prop


def _run_property(space: str, examples: int, tmp_path: Path, capsys: Any) -> None:
    """The property, plus a check that the mutants mostly break the file (else it would test little)."""
    prop = _property(space, examples)
    prop(tmp_path, capsys)
    refused = sum(o != "valid" for o in prop.outcomes)
    assert prop.outcomes and refused >= len(prop.outcomes) // 2, f"only {refused} of {len(prop.outcomes)} refused"


@pytest.mark.parametrize("space", SPACES)
def test_mutated_spaces_are_refused_clearly(space: str, tmp_path: Path, capsys: Any) -> None:
    _run_property(space, FAST_EXAMPLES, tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES)
def test_mutated_spaces_soak(space: str, tmp_path: Path, capsys: Any) -> None:
    _run_property(space, SOAK_EXAMPLES, tmp_path, capsys)


@pytest.mark.parametrize("attack", sorted(RAW_ATTACKS))
def test_whole_file_attacks(attack: str, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / f"{attack}.yaml"
    path.write_bytes(RAW_ATTACKS[attack])
    assert check_refused(path, capsys, tmp_path) in ("field", "file")


def test_python_tag_is_not_executed(tmp_path: Path, capsys: Any) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    assert check_refused(path, capsys, tmp_path) == "file"
    assert not marker.exists()


@pytest.mark.parametrize("mutate, where, allowed", [
    (lambda d: d["stages"][0].update(bogus=1), "stages[0].bogus", "'name'"),
    (lambda d: d["stages"][0]["blocks"]["mbconv"].update(kernel=[4]), "stages[0].blocks.mbconv.kernel", "3"),
    (lambda d: d["stages"][0]["blocks"].update(no_such_block={}), "stages[0].blocks.no_such_block", "mbconv"),
    (lambda d: d["input"].update(resolution=10**6), "input.resolution", "8..2048"),
    (lambda d: d["stages"][1].update(depth=[100]), "stages[1].depth", "0..64"),
    (lambda d: d["stages"][1].update(depth=[]), "stages[1].depth", None),
    (lambda d: d["stages"][1].update(depth={"range": [1, 10**12]}), "stages[1].depth.range", None),
    (lambda d: d.update(stages=[]), "stages", None),
    (lambda d: d["rules"].update(min_params=3e6), "rules.min_params", None),  # contradicts max_params 2e6
    (lambda d: d["rules"].update(attention_from_stage=9), "rules.attention_from_stage", "1..3"),
    (lambda d: d["stages"][0].update(name='x"]; import os#'), "stages[0].name", "lower-case"),
])
def test_errors_name_the_field_and_what_is_allowed(mutate: Any, where: str, allowed: str | None,
                                                   tmp_path: Path) -> None:
    doc = yaml.safe_load(shipped_spaces()["default"].read_text())
    mutate(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(dump(doc))
    with pytest.raises(SpecError) as info:
        load_space(path)
    assert info.value.path == where and info.value.file == str(path)
    if allowed is not None:
        assert "Allowed:" in str(info.value) and allowed in str(info.value)


@pytest.mark.parametrize("flags, expect", [
    (["--target", "no-such-target"], "target 'no-such-target'"),
    (["--sampler", "no-such-sampler"], "unknown sampler 'no-such-sampler'"),
    (["--dataset", "/no/such/dataset.npz"], "dataset"),
    (["--space", "no_such_space"], "no shipped space named 'no_such_space'"),
    (["--budget", "0"], "--budget must be at least 1"),
    (["--time-budget", "soon"], "is not a duration"),
    (["--train-steps", "0"], "--train-steps: 0 is not an integer in range. Allowed: an integer from 1"),
    (["--budget", "many"], "Invalid value"),
])
def test_bad_search_flags(flags: list[str], expect: str, tmp_path: Path, capsys: Any) -> None:
    run_dir = tmp_path / "run"
    code, stderr = run_cli(["search", "--run-dir", str(run_dir), *flags], capsys)
    assert code == 2 and expect in stderr and "Traceback" not in stderr, stderr
    assert not run_dir.exists()


BAD_CONSTRAINTS = ["latency_ms <", "latency_ms <= abc", "__import__('os').system('id') < 1", "accuracy == 0.9",
                   "params <= 1", "latency_ms <= 1e999999", "", "latency_ms <= 5; rm -rf /"]


@pytest.mark.parametrize("text", BAD_CONSTRAINTS)
def test_bad_constraint_expressions(text: str, tmp_path: Path, capsys: Any) -> None:
    from hynas.errors import UserError
    from hynas.search import SearchConfig

    with pytest.raises(UserError, match="constraint"):
        SearchConfig(space="default", run_dir=str(tmp_path / "run"), constraints=(text,))
    run_dir = tmp_path / "run"
    code, stderr = run_cli(["search", "--run-dir", str(run_dir), "--constraint", text], capsys)
    assert code == 2 and "constraint" in stderr and "Traceback" not in stderr, stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("content", [
    {"format": 999, "config": {}}, "not json at all {", [1, 2, 3], {"config": {}},
])
def test_run_dir_from_another_version_is_refused(content: Any, tmp_path: Path, capsys: Any) -> None:
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    text = content if isinstance(content, str) else json.dumps(content)
    (run_dir / "run.json").write_text(text)
    for argv in (["search", "--run-dir", str(run_dir), "--budget", "1"], ["plot", str(run_dir)],
                 ["export", str(run_dir), "--out", str(tmp_path / "m.py")]):
        code, stderr = run_cli(argv, capsys)
        assert code == 2 and "Traceback" not in stderr and "run.json" in stderr, (argv, stderr)
    assert (run_dir / "run.json").read_text() == text, "a refused run.json was rewritten"
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]


def _subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HYNAS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "hynas", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_real_process_exit_code_and_stderr(tmp_path: Path) -> None:
    """One real `python -m hynas` per kind of failure: exit status 2 and one line, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(RAW_ATTACKS["anchor_bomb"])
    out = _subprocess(["search", "--space", str(bad), "--run-dir", str(tmp_path / "run")], tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "anchor bomb" in out.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(RAW_ATTACKS))
def test_real_process_every_attack(attack: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(RAW_ATTACKS[attack])
    out = _subprocess(["space", str(bad)], tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.startswith("error: "), out.stderr
