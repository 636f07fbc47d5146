"""The short-training proxy: deterministic, prunable, fails loudly on NaN; zero-cost proxies run."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hynas.errors import CandidateError
from hynas.proxy.data import Dataset, load_dataset
from hynas.proxy.trainer import TrainConfig, train_proxy
from hynas.proxy.zero_cost import ZERO_COST, score


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def tiny_net(channels: int = 1, classes: int = 10, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, classes))


def test_digits_is_the_embedded_default(digits: Dataset) -> None:
    assert digits.describe() == {"name": "digits", "train": 4000, "val": 1000, "classes": 10,
                                 "channels": 1, "resolution": 32, "storage": "memory"}
    assert digits.train_x.dtype == torch.float32 and digits.train_y.dtype == torch.int64
    assert abs(float(digits.train_x.mean())) < 1e-3 and abs(float(digits.train_x.std()) - 1) < 1e-3
    assert set(digits.val_y.tolist()) == set(range(10))


def test_same_seed_same_accuracy_and_it_learns(digits: Dataset) -> None:
    a = train_proxy(tiny_net(), digits, steps=60, batch_size=32, lr=1e-2, seed=3)
    b = train_proxy(tiny_net(), digits, steps=60, batch_size=32, lr=1e-2, seed=3)
    assert a.val_accuracy == b.val_accuracy and a.train_loss == b.train_loss and a.history == b.history
    assert a.val_accuracy > 0.3  # chance is 0.1
    assert [s for s, _ in a.history] == [15, 30, 45, 60] and not a.pruned and a.steps == 60


def test_report_returning_true_prunes(digits: Dataset) -> None:
    seen: list[tuple[int, float]] = []

    def report(step: int, acc: float) -> bool:
        seen.append((step, acc))
        return step >= 40

    res = train_proxy(tiny_net(), digits, steps=80, batch_size=16, report=report)
    assert res.pruned and res.steps == 40 and seen == res.history and len(seen) == 2


def test_nan_loss_is_a_candidate_error(digits: Dataset) -> None:
    net = tiny_net()
    with torch.no_grad():
        net[-1].bias.fill_(float("nan"))
    with pytest.raises(CandidateError, match="NaN loss at step 1"):
        train_proxy(net, digits, steps=5)


def test_reduced_resolution_and_sgd(digits: Dataset) -> None:
    cfg = TrainConfig(steps=20, batch_size=16, optimizer="sgd", lr=0.05, resolution=16)
    res = train_proxy(tiny_net(), digits, config=cfg)
    assert res.steps == 20 and 0.0 <= res.val_accuracy <= 1.0


@pytest.mark.parametrize("name", ["synflow", "naswot", "jacob_cov", "grad_norm", "snip", "params", "macs"])
def test_zero_cost_proxy_is_finite_and_leaves_model_alone(digits: Dataset, name: str) -> None:
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    value = score(name, net, digits, batch_size=16)
    assert math.isfinite(value)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert value == score(name, net, digits, batch_size=16)  # seeded batch: same score
    assert name in ZERO_COST.names()


def test_rank_average_combines_populations() -> None:
    from hynas.proxy.zero_cost import rank_average

    rows = [{"a": 1.0, "b": 30.0}, {"a": 2.0, "b": 10.0}, {"a": 3.0, "b": 20.0}, {"a": float("-inf"), "b": 0.0}]
    assert rank_average(rows, ["a", "b"]) == [2.0, 1.5, 2.5, 0.0]
    assert rank_average(rows, ["a"]) == [1.0, 2.0, 3.0, 0.0] and rank_average([], ["a"]) == []
