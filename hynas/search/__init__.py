"""The search: Optuna studies in a run directory, candidates scored by proxy accuracy and latency.

Layout, one concern per subpackage: ``types`` (what the parts pass each other), ``config``
(``SearchConfig``, run.json's "config"), ``engine`` (ask/tell bookkeeping, ``run_search``),
``pruning`` (the rung rule), ``samplers/`` (by name), ``storage/`` (run directory, storage,
mirror, liveness), ``backends/`` (local, isolate, ray), ``problems/`` (space, screening,
scorers, NAS-Bench-201 table).
"""

from hynas.search.config import SearchConfig
from hynas.search.engine import run_search
from hynas.search.types import SearchSummary

__all__ = ["SearchConfig", "SearchSummary", "run_search"]
