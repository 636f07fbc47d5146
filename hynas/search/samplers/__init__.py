"""Samplers by name (``--sampler``): Optuna's, plus categorical BO (``bo``), its robust default form (``robust``) and aging evolution (``evolution``)."""

from hynas.search.samplers.registry import SAMPLERS, default_sampler, make_sampler

__all__ = ["SAMPLERS", "default_sampler", "make_sampler"]
