from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 3-candidate search on the default space (zero-cost proxy, eager latency), as `hynas search` makes it.

    Screening 2 proposals per candidate and a params constraint give the results layer every
    outcome a cheap search records: with seed 0, trials 2 and 6 (0.59 M, 0.58 M params) violate
    params_m<=0.45, trial 5 (0.17 M) is the feasible one, three proposals are screened out.
    """
    from hynas.search import SearchConfig, run_search

    run_dir = tmp_path_factory.mktemp("run") / "small"
    cfg = SearchConfig(space="default", run_dir=str(run_dir), budget=3, sampler="random", seed=0,
                       proxy="naswot", target="torch-cpu",  # the cheapest real proxy and target
                       screen=2, constraints=("params_m<=0.45",))
    summary = run_search(cfg)
    assert summary.complete == 3 and summary.screened_out >= 1 and 1 <= summary.feasible < 3, summary
    return run_dir
