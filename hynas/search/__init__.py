"""The search: Optuna studies in a run directory, candidates scored by proxy accuracy and latency."""

from hynas.search.config import SearchConfig
from hynas.search.engine import SearchSummary, run_search

__all__ = ["SearchConfig", "SearchSummary", "run_search"]
