"""What a user sees while a search runs and after: a line per candidate (terminal and RUN/search.log), the
failure reasons in the summary, an ETA, and the objective named by what it is in the bar, plots and report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from hynas.space import shipped_spaces
from tests.reliability.conftest import faulty_blocks  # noqa: F401 - the fixture, used by name below
from tests.reliability.mutants import dump

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(r"trial +\d+  (complete|FAILED|pruned|rejected) +\S{1,12} +(acc|naswot) ")


def test_piped_search_prints_and_logs_a_line_per_candidate(tmp_path: Path) -> None:
    """stdout is a pipe (not a terminal): the lines still come, and the same ones land in search.log."""
    rd = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "hynas", "search", "--table", "nb201-cifar10", "--budget", "5",
                          "--sampler", "random", "--run-dir", str(rd)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300, check=False, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HYNAS_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    shown = [ln for ln in out.stdout.splitlines() if LINE.match(ln)]
    logged = [ln.split("  ", 1)[1] for ln in (rd / "search.log").read_text().splitlines() if "trial " in ln]
    assert len(shown) == 5 and shown == logged, (out.stdout, logged)
    assert all(" ms · " in ln and ln.endswith(" s") for ln in shown)
    assert "optuna: A new study created" in out.stdout and "A new study" not in out.stderr  # through our console
    assert "search.log" in out.stdout and "stopped: budget of 5" in (rd / "search.log").read_text()


def test_failure_reasons_reach_the_summary_and_zero_cost_is_named(tmp_path: Path, faulty_blocks: dict,  # noqa: F811
                                                                  capsys) -> None:
    from hynas.cli import main
    from hynas.results.plots import plot_data
    from hynas.results.report import front_section
    from hynas.results.trials import load_run

    doc = yaml.safe_load(shipped_spaces()["default"].read_text())
    doc["stages"][0]["blocks"] = {"mbconv": doc["stages"][0]["blocks"]["mbconv"], "rel_raise": {}}
    space = tmp_path / "space.yaml"
    space.write_text(dump(doc))
    rd = tmp_path / "run"
    main(["search", "--space", str(space), "--proxy", "naswot", "--budget", "4", "--sampler", "random",
          "--seed", "1", "--run-dir", str(rd)])
    text = capsys.readouterr().out
    assert re.search(r"failed \d+×: ValueError: rel_raise: deliberate failure in forward", text), text
    assert re.search(r"trial +\d+  FAILED .* · ValueError: rel_raise", text), text
    assert re.search(r"trial +\d+  complete +[0-9a-f]{12}  naswot \d", text), text
    assert "best naswot " in text and "eta" in text and "best acc" not in text
    run = load_run(rd)
    pd = plot_data(run)
    assert pd.accuracy_label.startswith("naswot zero-cost score") and "fraction" not in pd.accuracy_label
    assert "naswot" in pd.hv_unit and "naswot zero-cost score" in front_section(run)[0]
