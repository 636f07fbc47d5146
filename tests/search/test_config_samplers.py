"""Constraint grammar, every registered sampler on a few NAS-Bench-201 trials, the evolution sampler."""

from __future__ import annotations

import optuna
import pytest

from hynas.errors import UserError
from hynas.nb201 import EDGE_NAMES, OPS, NB201Table
from hynas.nb201 import parse as parse_arch_str
from hynas.nb201 import to_string as arch_str
from hynas.search.config import SearchConfig, parse_constraint
from hynas.search.engine import run_tabular
from hynas.search.samplers import SAMPLERS, make_sampler
from hynas.search.samplers.evolution import RegularizedEvolutionSampler, selection_keys

optuna.logging.set_verbosity(optuna.logging.ERROR)

@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> NB201Table:
    return NB201Table("nb201-cifar10")

@pytest.mark.parametrize("text,metric,op,bound", [("latency_ms<=5", "latency_ms", "<=", 5.0),
                                                   (" params_m < 1e1 ", "params_m", "<", 10.0),
                                                   ("accuracy>=0.9", "accuracy", ">=", 0.9)])
def test_constraint_parses(text: str, metric: str, op: str, bound: float) -> None:
    c = parse_constraint(text)
    assert (c.metric, c.op, c.bound) == (metric, op, bound)

def test_constraint_violation_sign() -> None:
    assert parse_constraint("latency_ms<=5").violation({"latency_ms": 4.0}) == -1.0
    assert parse_constraint("accuracy>=0.9").violation({"accuracy": 0.8}) == pytest.approx(0.1)

@pytest.mark.parametrize("bad", ["latency<=5", "latency_ms<=", "latency_ms=5", "__import__('os')<=1",
                                 "params_m<=5; rm -rf /", ""])
def test_bad_constraint_names_allowed_metrics(bad: str) -> None:
    with pytest.raises(UserError, match="latency_ms, params_m"):
        parse_constraint(bad)

def test_bad_constraint_cli_exit_2(tmp_path, capsys) -> None:
    from hynas.cli import main

    with pytest.raises(SystemExit) as e:
        main(["search", "--constraint", "speed<=3", "--run-dir", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "Allowed names: accuracy, latency_ms, params_m, macs_g" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

def test_config_rejects_bad_constraint_early() -> None:
    with pytest.raises(UserError):
        SearchConfig(space="default", run_dir="x", constraints=("flops<1",))

@pytest.mark.parametrize(("field", "bad", "kind"), [("sampler", "nsgaa", "sampler"), ("backend", "rey", "backend"),
                                                   ("proxy", "naswt", "proxy")])
def test_library_run_with_a_misspelled_name_writes_nothing(tmp_path, field: str, bad: str, kind: str) -> None:
    """The names are checked by SearchConfig itself, so a library caller gets the CLI's error, before run.json."""
    from hynas.search import run_search

    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=f"unknown {kind} '{bad}'. Known: "):
        run_search(SearchConfig(space="default", run_dir=str(run_dir), budget=1, **{field: bad}))
    assert not run_dir.exists()


def test_arch_str_roundtrip(table: NB201Table) -> None:
    for ops in list(table.rows)[:50]:
        assert parse_arch_str(arch_str(ops)) == ops
    assert len(table) == 5 ** 6
    assert table.best_by_valid().test_acc == pytest.approx(94.3733)

@pytest.mark.parametrize("name", SAMPLERS.names())
@pytest.mark.parametrize("objectives", [("accuracy",), ("accuracy", "latency_ms")])
def test_every_sampler_runs_nb201(table: NB201Table, name: str, objectives: tuple[str, ...]) -> None:
    n = 12 if name == "gp" else 25
    study = run_tabular(table, make_sampler(name, 0, len(objectives)), n, objectives)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == n
    assert len({t.user_attrs["hash"] for t in done}) == n  # duplicates are never re-evaluated
    assert all(set(t.params) == set(EDGE_NAMES) for t in done)

def test_evolution_mutates_one_decision_of_a_tournament_winner(table: NB201Table) -> None:
    study = run_tabular(table, RegularizedEvolutionSampler(population_size=8, sample_size=3, seed=1), 40)
    by_number = {t.number: t for t in study.trials}
    children = [t for t in study.trials if "evolution:parent" in t.system_attrs]
    assert len(children) >= 30
    for child in children:
        parent = by_number[child.system_attrs["evolution:parent"]]
        assert child.system_attrs["evolution:parent_hash"] == parent.user_attrs["hash"]
        assert parent.state.name == "COMPLETE" and parent.number < child.number
        changed = [n for n in EDGE_NAMES if child.params[n] != parent.params[n]]
        assert len(changed) == 1 and child.params[changed[0]] in OPS
        # the parent was in the aged population: among the 8 most recent complete trials at the time
        earlier = [t for t in study.trials if t.state.name == "COMPLETE" and t.number < child.number]
        assert parent.number in [t.number for t in earlier[-8:]]

def test_evolution_improves_on_its_random_start(table: NB201Table) -> None:
    study = run_tabular(table, RegularizedEvolutionSampler(population_size=10, sample_size=5, seed=3), 80)
    vals = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    assert sum(vals[-20:]) / 20 > sum(vals[:10]) / 10

def test_selection_keys_feasible_first_then_rank() -> None:
    d = optuna.distributions.FloatDistribution(0, 1)

    def trial(acc: float, lat: float, viol: float) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(values=[acc, lat], params={"x": 0.5}, distributions={"x": d},
                                         system_attrs={"constraints:c": viol})

    ts = [trial(0.9, 5, 0), trial(0.8, 6, 0), trial(0.95, 1, 2.0), trial(0.7, 1, 0)]
    dirs = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    from hynas.search.samplers.evolution import violation

    keys = selection_keys(ts, dirs, violation)
    assert keys[2][0] == 2.0  # infeasible: loses to every feasible trial despite dominating them
    assert keys[0][1] == 0 and keys[3][1] == 0 and keys[1][1] == 1  # (0.8, 6) is dominated by (0.9, 5)
    assert min(range(4), key=lambda i: keys[i]) in (0, 3)

def test_sampler_choice_is_reproducible(table: NB201Table) -> None:
    a = run_tabular(table, make_sampler("evolution", 7, 1), 30)
    b = run_tabular(table, make_sampler("evolution", 7, 1), 30)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
