"""Tasks: a dataset names what is scored; the trainer trains with its loss and reports its score."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from hynas.build import build_model
from hynas.proxy.data import from_arrays
from hynas.proxy.recipe import TrainRecipe
from hynas.proxy.tasks import TASKS, roc_auc
from hynas.proxy.trainer import train_proxy
from hynas.space.loader import parse_space
from hynas.space.sampling import sample


def _auc_by_pairs(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


@pytest.mark.parametrize("seed", range(4))
def test_auc_equals_the_pairwise_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 0.7, 1.0), 1)  # rounded: many ties
    assert roc_auc(torch.tensor(s), torch.tensor(y)) == pytest.approx(_auc_by_pairs(s, y), abs=1e-12)


def test_auc_of_one_class_is_nan() -> None:
    assert np.isnan(roc_auc(torch.rand(10), torch.ones(10, dtype=torch.int64)))


def test_binary_task_trains_and_reports_auc() -> None:
    """A planted rule (positive when the channels' products sum above 0) is learned: AUC well above 0.5."""
    rng = np.random.default_rng(0)
    n, length = 1600, 16
    x = rng.normal(0, 1, (n, 2, length)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1]).mean(1) > 0).astype(np.int64)
    data = replace(from_arrays("pairs", x, y, dims=1), task="binary")
    space = parse_space({"input": {"dims": 1, "channels": 2, "length": length, "classes": 2},
                         "stem": {"width": 32, "blocks": "conv1d_stem"},
                         "stages": [{"width": 32, "depth": 2, "blocks": {"mbconv1d": {"kernel": 3}}}],
                         "head": "pool_linear"})
    torch.manual_seed(0)
    model = build_model(sample(space, random.Random(0)))
    res = train_proxy(model, data, recipe=TrainRecipe(steps=300, batch_size=64, lr=3e-3))
    assert "binary" in TASKS.names() and data.describe()["task"] == "binary"
    assert 0.8 < res.val_accuracy <= 1.0  # the score is the AUC, not top-1
    assert res.scores["auc"] == res.val_accuracy and 0 < res.scores["logloss"] < 0.7
