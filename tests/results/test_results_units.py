"""Pure pieces of the results layer: landmark width scaling, EDFs, the reproduce command."""

from __future__ import annotations

from hynas.results.explore import edf
from hynas.results.landmarks import adapt, pretty_name, scale_widths
from hynas.results.report import reproduce_command
from hynas.space import fixed_arch, load_space


def test_scaled_landmark_keeps_whole_heads_and_fits_the_size_cap() -> None:
    from hynas.cost import params_fast

    arch = fixed_arch(load_space("search_spaces/reference/caformer_s18.yaml"))
    small, div = adapt(arch, {"resolution": 32, "classes": 10, "channels": 1}, 1.5e6)
    assert div > 1 and params_fast(small) <= 1.5e6
    assert small.input == {"resolution": 32, "classes": 10, "channels": 1}
    for _, b in small.blocks():
        if "head_dim" in b["knobs"]:
            assert b["out"] % b["knobs"]["head_dim"] == 0
    assert scale_widths(arch, 1) == arch and pretty_name("caformer_s18") == "CAFormer-S18"


def test_edf_is_the_fraction_at_or_below() -> None:
    xs, fs = edf([3.0, 1.0, 2.0, float("nan")])
    assert xs == [1.0, 2.0, 3.0] and fs == [1 / 3, 2 / 3, 1.0]


def test_reproduce_command_names_every_setting() -> None:
    meta = {"config": {"space": "default", "target": "ort-cpu", "budget": 6, "sampler": "nsga2", "seed": 0,
                       "run_dir": "runs/x", "dataset": "digits", "proxy": "train", "train_steps": 100,
                       "objectives": ["accuracy", "latency_ms", "params_m"], "measure": False}}
    cmd, recorded = reproduce_command(meta)
    assert cmd.startswith("hynas search --space default") and "--params-objective" in cmd and "--predict" in cmd
    assert not recorded
    timed, _ = reproduce_command({"config": dict(meta["config"], measure=True)})
    assert "--measure" in timed and "--predict" not in timed


def test_run_json_records_the_cli_command_and_the_report_prefers_it(monkeypatch, tmp_path) -> None:
    from hynas.search.config import SearchConfig
    from hynas.search.storage.rundir import prepare

    argv = ["/opt/venv/bin/hynas", "search", "--constraint", "latency_ms<=5", "--run-dir", str(tmp_path / "r")]
    monkeypatch.setattr("sys.argv", argv)
    meta = prepare(SearchConfig(space="default", run_dir=str(tmp_path / "r")), "name: x\n")
    assert meta["command"] == f"hynas search --constraint 'latency_ms<=5' --run-dir {tmp_path / 'r'}"
    assert meta["cwd"] and reproduce_command(meta) == (meta["command"], True)
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest", "-q"])  # a library call records no command line
    assert "command" not in prepare(SearchConfig(space="default", run_dir=str(tmp_path / "s")), "name: x\n")


def test_norules_keeps_budgets_and_output_stride():
    """``NAME@norules`` drops the layout rules only: the output stride is structural (mobile.yaml's
    head is sized for a /32 map) and the budgets stay."""
    from hynas.results.explore import NORULES, load_variant

    sp, label = load_variant("mobile" + NORULES)
    assert "no layout rules" in label
    r = sp.rules
    assert (r.attention_from_stage, r.asymmetric) == (None, False)
    assert (r.output_stride, r.max_params, r.max_macs) == (32, 13.0e6, 1.6e9)
