"""optuna-dashboard opens a run directory's study: named objectives, outcomes told apart.

A real search (zero-cost proxy, so it takes seconds) over the default space with one
deliberately failing block added and a parameter limit that rejects part of the space,
screened 2:1; then optuna-dashboard's own server on 127.0.0.1 serves the study and the test
reads it through the dashboard's HTTP API, as the browser would.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hynas.search import SearchConfig, run_search
from hynas.search.storage.rundir import read_meta, storage_url
from hynas.space import shipped_spaces
from tests.reliability.conftest import faulty_blocks  # noqa: F401 - the fixture, used by name below
from tests.reliability.mutants import dump


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        assert r.status == 200
        return json.loads(r.read())


@pytest.fixture
def run_dir(tmp_path: Path, faulty_blocks: dict) -> Path:  # noqa: F811 - pytest injects the imported fixture
    doc = yaml.safe_load(shipped_spaces()["default"].read_text())
    first = doc["stages"][0]["blocks"]
    doc["stages"][0]["blocks"] = {"mbconv": first["mbconv"], "rel_raise": {}}  # a candidate with it fails in forward
    doc["rules"]["max_params"] = 200_000  # rejects about half of the space before building
    space = tmp_path / "space.yaml"
    space.write_text(dump(doc))
    cfg = SearchConfig(space=str(space), run_dir=str(tmp_path / "run"), budget=5, sampler="random", seed=1,
                       proxy="naswot", screen=2, measure=False)
    run_search(cfg)
    return tmp_path / "run"


@pytest.fixture
def dashboard(run_dir: Path) -> Iterator[int]:
    port = _free_port()
    exe = Path(sys.executable).parent / "optuna-dashboard"
    proc = subprocess.Popen([str(exe), storage_url(read_meta(run_dir)), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(port, "/api/meta")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"optuna-dashboard did not start: {proc.stderr.read()[-2000:]!r}") from None
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_dashboard_shows_named_objectives_and_distinct_outcomes(dashboard: int) -> None:
    studies = _get(dashboard, "/api/studies")["study_summaries"]
    (study,) = [s for s in studies if s["study_name"] == "hynas"]
    detail = _get(dashboard, f"/api/studies/{study['study_id']}")
    assert detail["objective_names"] == ["naswot zero-cost score (higher is better; not an accuracy)",
                                         "latency ms on ort-cpu"]
    trials = detail["trials"]
    attrs = [{a["key"]: a["value"] for a in t["user_attrs"]} for t in trials]
    seen = Counter((t["state"], a.get("outcome")) for t, a in zip(trials, attrs))
    assert seen[("Complete", "complete")] >= 1, seen
    assert seen[("Fail", "failed")] >= 1, seen  # the failing block, with its reason
    assert seen[("Fail", "rejected")] >= 1, seen  # a rule, not a failure of an evaluated candidate
    assert seen[("Pruned", "screened_out")] >= 1, seen  # lost the 2:1 screen
    assert set(seen) <= {("Complete", "complete"), ("Fail", "failed"), ("Fail", "rejected"),
                         ("Pruned", "screened_out"), ("Pruned", "duplicate")}, seen
    for t, a in zip(trials, attrs):
        if a.get("outcome") == "failed":
            assert "rel_raise: deliberate failure" in a["fail_reason"]
        if a.get("outcome") == "rejected":
            assert a["rejected"]  # the rule and why
        if t["state"] == "Complete":
            assert len(t["values"]) == 2
