"""Every entry point under generated bad input: no traceback, no hang, refusals name the file or flag.

The default test runs a small deterministic sample through the real CLI in-process; the slow
soak runs 2,080 generated inputs and writes its tally (benchmarks/reliability_fuzz.py prints
the same tally as a table).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.fuzz_entrypoints import ENTRIES, run_case, run_many

FAST_PER_ENTRY = 6
SOAK_PER_ENTRY = 260


def assert_clean(tally: dict[str, dict]) -> None:
    bad = {e: r["examples"] for e, r in tally.items() if r["traceback"] or r["hang"] or r["refused_unnamed"]}
    assert not bad, json.dumps(bad, indent=1)[:4000]


def test_fuzz_sample_every_entry_point(tmp_path: Path) -> None:
    tally = run_many(FAST_PER_ENTRY, tmp_path, seed=1)
    assert set(tally) == set(ENTRIES)
    assert_clean(tally)
    assert sum(r["refused"] for r in tally.values()) >= len(ENTRIES) * FAST_PER_ENTRY // 2


@settings(max_examples=16, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(entry=st.sampled_from(sorted(set(ENTRIES) - {"run directory", "export --out", "study rows"})),
       seed=st.integers(0, 2**32 - 1))
def test_fuzz_hypothesis_draws(entry: str, seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    import random

    root = tmp_path_factory.mktemp("fz")
    case = ENTRIES[entry](random.Random(seed), root)
    outcome = run_case(case, timeout_s=30)
    assert outcome.kind in ("refused", "accepted"), (entry, case.label, outcome.kind, outcome.detail)


@pytest.mark.slow
def test_fuzz_soak(tmp_path: Path) -> None:
    tally = run_many(SOAK_PER_ENTRY, tmp_path, seed=0)
    out = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "reliability_fuzz_soak.json"
    out.write_text(json.dumps(tally, indent=2))
    assert sum(r["tried"] for r in tally.values()) >= 2000
    assert_clean(tally)
