"""Zero-cost proxies compute the papers' definitions, checked on networks whose answer is known by hand."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from hynas.proxy.nb201 import NB201Net
from hynas.proxy.zero_cost import activation_scores, jacob_cov, naswot, synflow


def test_naswot_is_logdet_of_agreement_counts_of_relu_inputs() -> None:
    # One ReLU on the raw input: its codes are the signs of x, so K[i,j] = #positions where the
    # signs of rows i and j agree = N_A - Hamming distance (Mellor et al. 2021, eq. 2).
    x = torch.tensor([[1.0, -1.0, 2.0, -3.0, 0.5], [1.0, 1.0, -2.0, -3.0, 0.5], [-1.0, -1.0, 2.0, 3.0, -0.5]])
    codes = (x > 0).numpy().astype(float)
    agree = np.array([[(a == b).sum() for b in codes] for a in codes], dtype=float)
    assert agree.tolist() == [[5, 3, 2], [3, 5, 0], [2, 0, 5]]
    expected = float(np.linalg.slogdet(agree)[1])
    assert math.isclose(naswot(nn.Sequential(nn.ReLU()), x, None), expected, rel_tol=1e-12)
    # Two ReLUs in a row: the second sees ReLU outputs (>= 0, so code = first ReLU's code): K doubles.
    twice = naswot(nn.Sequential(nn.ReLU(), nn.ReLU()), x, None)
    assert math.isclose(twice, float(np.linalg.slogdet(2 * agree)[1]), rel_tol=1e-12)


def test_jacob_cov_of_identical_jacobians() -> None:
    # A linear map: every sample has the same input Jacobian, so the correlation matrix is all ones,
    # eigenvalues (n, 0, ..., 0), and the score is -sum(log(v + k) + 1 / (v + k)) with k = 1e-5.
    torch.manual_seed(0)
    net, n, k = nn.Linear(6, 3), 4, 1e-5
    expected = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    assert math.isclose(jacob_cov(net, torch.randn(n, 6), None), expected, rel_tol=1e-6)


def test_shared_pass_equals_each_proxy_alone() -> None:
    torch.manual_seed(0)
    net = NB201Net("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|")
    x = torch.randn(8, 3, 32, 32)
    both = activation_scores(copy.deepcopy(net), x)
    assert both == {"naswot": naswot(copy.deepcopy(net), x, None), "jacob_cov": jacob_cov(copy.deepcopy(net), x, None)}


def test_synflow_ignores_data_and_sign_and_grows_with_width() -> None:
    torch.manual_seed(0)
    narrow, wide = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), nn.Sequential(
        nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    a = synflow(copy.deepcopy(narrow), torch.randn(5, 4), None)
    assert a == synflow(copy.deepcopy(narrow), torch.randn(5, 4), None)  # input of ones, not the batch
    flipped = copy.deepcopy(narrow)
    with torch.no_grad():
        for p in flipped.parameters():
            p.neg_()
    assert math.isclose(a, synflow(flipped, torch.randn(5, 4), None), rel_tol=1e-12)  # |w|
    assert synflow(copy.deepcopy(wide), torch.randn(5, 4), None) > a
