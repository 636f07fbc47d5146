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
    cmd = reproduce_command(meta)
    assert cmd.startswith("hynas search --space default") and "--params-objective" in cmd and "--predict" in cmd
