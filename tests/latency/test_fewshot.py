"""Few-shot transfer on a synthetic NAS-Bench-201 table: known per-op costs, one runtime that removes dead code."""

import random

import numpy as np
import pytest
from scipy.stats import spearmanr

from hynas.latency.fewshot import (
    best_source_view,
    choose,
    design_features,
    fit_costs,
    fit_fewshot,
    fit_fewshot_mix,
    nb201_views,
    used_edges,
)
from hynas.nb201 import EDGES, all_genotypes, parse

SRC_COSTS = np.array([4.0, -0.2, 1.9, 2.6, 0.3])  # intercept, skip, 1x1, 3x3, pool: a CPU, every op runs
DCE_COSTS = np.array([2.0, -0.1, 0.6, 6.0, 1.4])  # a phone-like runtime: 3x3 ten times a 1x1, dead code removed


@pytest.fixture(scope="module")
def table():
    genos = list(all_genotypes())
    views = nb201_views(genos)
    noise = np.random.default_rng(0)
    src = views["all"].x @ SRC_COSTS * noise.lognormal(0, 0.02, len(genos))
    dst = views["dce"].x @ DCE_COSTS * noise.lognormal(0, 0.03, len(genos))
    dst = np.where(views["dce"].folded, 0.01, dst)  # a cell that ignores its input folds the network
    return genos, views, src, dst


def test_views_follow_the_cell_graph():
    dead_end = parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    feeds_out = parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|")
    v = nb201_views([dead_end, feeds_out])
    assert v["all"].counts[0].tolist() == [1, 0, 1, 0]  # skip, 1x1, 3x3, pool as written
    assert v["dce"].counts[0].tolist() == [1, 0, 0, 0]  # the conv's result is unused; the skip reaches the output
    assert v["dce"].folded[0]  # ... but carries nothing from the input: the network folds to a constant
    assert v["dce"].counts[1].tolist() == [0, 0, 1, 1] and not v["dce"].folded[1]
    assert not v["all"].folded.any()
    assert used_edges(EDGES, [True] * 6, 3) == [True] * 6
    assert used_edges(EDGES, [True, True, True, False, False, True], 3) == [True, True, True, False, False, True]


def test_fit_costs_recovers_exact_costs_with_a_weak_prior(table):
    views = table[1]
    live = np.flatnonzero(~views["dce"].folded)[:40]
    exact = views["dce"].x[live] @ DCE_COSTS
    coef = fit_costs(views["dce"].x[live], exact, SRC_COSTS, 1e-8)
    assert np.allclose(coef, DCE_COSTS, atol=1e-3)
    pulled = fit_costs(views["dce"].x[live], exact, SRC_COSTS, 1e6)  # a strong prior stays at the source's ratios
    assert np.allclose(pulled / pulled[3], SRC_COSTS / SRC_COSTS[3], atol=0.02)


def test_source_view_and_target_view_are_found_from_the_data(table):
    _, views, src, dst = table
    name, prior = best_source_view(views, src)
    assert name == "all" and np.allclose(prior, SRC_COSTS, atol=0.05)
    rng = random.Random(1)
    idx = choose(design_features(views), 10, rng, "kcentre")
    fit = fit_fewshot(views, prior, idx, dst)
    assert fit.view == "dce" and set(fit.loo) == {f"{v}:{r:g}" for v in views for r in (0.03, 0.3, 3, 30, 300)}
    rest = np.setdiff1d(np.arange(len(dst)), idx)
    pred = fit.predict(views)
    assert spearmanr(pred[rest], dst[rest]).statistic > 0.95
    assert spearmanr(src[rest], dst[rest]).statistic < 0.85  # the source's own ranking is far off
    back = fit_fewshot(views, best_source_view(views, dst)[1], idx, src)  # and the other way: every op runs
    assert back.view == "all" and spearmanr(back.predict(views)[rest], src[rest]).statistic > 0.95


def test_views_averaged_by_their_loo_likelihood(table):
    _, views, src, dst = table
    prior = best_source_view(views, src)[1]
    idx = choose(design_features(views), 10, random.Random(1), "kcentre")
    mix = fit_fewshot_mix(views, prior, idx, dst)
    assert abs(sum(mix.weights.values()) - 1) < 1e-9 and mix.weights["dce"] > 0.9  # clear evidence: one view
    rest = np.setdiff1d(np.arange(len(dst)), idx)
    assert spearmanr(mix.predict(views)[rest], dst[rest]).statistic > 0.95
    same = fit_fewshot_mix({"a": views["all"], "b": views["all"]}, prior, idx, src)
    assert same.weights == {"a": 0.5, "b": 0.5}  # views the K cannot tell apart count alike


def test_designed_choice_beats_random_on_average(table):
    _, views, src, dst = table
    feats, prior = design_features(views), best_source_view(views, src)[1]

    def mean_rho(how):
        rng, out = random.Random(0), []
        for _ in range(5):
            idx = choose(feats, 10, rng, how, pool=500)
            rest = np.setdiff1d(np.arange(len(dst)), idx)
            out.append(spearmanr(fit_fewshot(views, prior, idx, dst).predict(views)[rest], dst[rest]).statistic)
        return np.mean(out)

    assert mean_rho("kcentre") >= mean_rho("random") - 0.01


def test_choices_are_distinct_and_bad_input_is_refused(table):
    _, views, src, dst = table
    feats = design_features(views)
    for how in ("random", "kcentre", "kmedoids", "dopt"):
        idx = choose(feats, 12, random.Random(2), how, pool=300)
        assert len(set(idx)) == 12 and all(0 <= i < len(feats) for i in idx)
    with pytest.raises(ValueError, match="kcentre"):
        choose(feats, 3, random.Random(0), "greedy")
    prior = best_source_view(views, src)[1]
    with pytest.raises(ValueError, match="at least 3"):
        fit_fewshot(views, prior, [0, 1], dst)
    bad = dst.copy()
    bad[5] = -1.0
    with pytest.raises(ValueError, match="positive"):
        fit_fewshot(views, prior, [5, 6, 7, 8], bad)


def test_calibration_archs_kcentre_spreads_the_block_type_mix():
    from pathlib import Path

    from hynas.latency.calibrate import Sample, _design, calibration_archs
    from hynas.latency.predictor import Predictor
    from hynas.space import load_space

    pred = Predictor.load(Path(__file__).resolve().parents[2] / "predictors" / "ort-cpu.json")
    spaces = [load_space("default")]

    def spread(archs):
        s_mat, fixed, _, _ = _design(pred, [Sample(a, u, 1.0) for a, u in archs])
        f = np.concatenate([s_mat, fixed[:, None]], axis=1)
        return min(np.linalg.norm(f[i] - f[j]) for i in range(len(f)) for j in range(i))

    rand = calibration_archs(spaces, 8, 0)
    spread_out = calibration_archs(spaces, 8, 0, pred, "kcentre")
    assert len({a.hash for a, _ in spread_out}) == 8
    assert spread(spread_out) > spread(rand)  # the closest two are farther apart than in a random draw
    assert [a.hash for a, _ in calibration_archs(spaces, 8, 0, None, "kcentre")] == [a.hash for a, _ in rand]
    with pytest.raises(ValueError, match="random or kcentre"):
        calibration_archs(spaces, 3, 0, pred, "greedy")
