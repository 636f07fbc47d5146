from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 3-candidate search on the default space (zero-cost proxy, eager latency), as `hynas search` makes it."""
    from hynas.search import SearchConfig, run_search

    run_dir = tmp_path_factory.mktemp("run") / "small"
    cfg = SearchConfig(space="default", run_dir=str(run_dir), budget=3, sampler="random", seed=0,
                       proxy="naswot", target="torch-cpu")  # the cheapest real proxy and target
    summary = run_search(cfg)
    assert summary.complete >= 2, summary
    return run_dir
