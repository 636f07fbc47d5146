"""Generated 1-D data: the ``modulation`` set (shapes, seeds, channel, learnability per SNR), the
``separation`` set and the SI-SNR metrics on cases whose answer is known in closed form."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import yaml

from hynas.proxy import signals as S
from hynas.proxy.data import load_dataset

TINY_AMR = """
name: amr_tiny
input: {dims: 1, channels: 2, length: 128, classes: 11}
stem: {width: [32], blocks: {conv1d_stem: {kernel: [7], reduction: [2]}}}
stages:
  - {name: s1, width: [32], downsample: none, depth: [1], blocks: {mbconv1d: {expand: [2], kernel: [7]}}}
  - {name: s2, width: [48], downsample: conv1d_down, depth: [1], blocks: {mbconv1d: {expand: [2], kernel: [5]}}}
head: pool_linear
"""


def test_modulation_is_registered_balanced_and_keeps_each_snr() -> None:
    d = load_dataset("modulation")
    assert (d.dims, d.resolution, d.channels, d.classes) == (1, 128, 2, len(S.MODULATIONS))
    assert (len(d.train_y), len(d.val_y)) == (11 * 1000, 11 * 300)
    snr = S.modulation_snr("val")
    assert len(snr) == len(d.val_y) and set(snr.tolist()) == set(S.SNR_DB)
    pairs = np.bincount(d.val_y.numpy() * 100 + (snr - S.SNR_DB[0]))
    assert set(pairs[pairs > 0].tolist()) == {300 // len(S.SNR_DB)}  # every (class, SNR) equally often
    assert len(set(d.val_y[:50].tolist())) > 5  # shuffled: a short interim evaluation sees many classes
    assert d.describe()["snr_db"] == "-10..18 step 2" and "QAM64" in d.describe()["modulations"]


def test_same_seed_same_tensors_other_seed_other_frames() -> None:
    S.modulation_arrays.cache_clear()
    a = S.modulation_arrays("train", 0, 40)
    S.modulation_arrays.cache_clear()
    b = S.modulation_arrays("train", 0, 40)
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()
    assert not np.array_equal(S.modulation_arrays("train", 1, 40)[0], a[0])
    assert not np.array_equal(S.modulation_arrays("val", 0, 40)[0], a[0])  # splits never share frames


def test_unit_power_before_noise_and_noise_at_the_stated_snr() -> None:
    x, _, snr = S.modulation_arrays("train", 0, 150)
    power = (x ** 2).sum(axis=1).mean(axis=1)  # |I + jQ|^2 per frame, averaged over samples
    for db in (18, 0, -10):
        expected = 1 + 10 ** (-db / 10)
        assert power[snr == db].mean() == pytest.approx(expected, rel=0.05)


def test_rrc_is_a_nyquist_pulse_and_fsk_keeps_a_constant_envelope() -> None:
    fine = 64
    t = np.arange(-S.SPAN / 2 * fine, S.SPAN / 2 * fine + 1) / fine
    r = np.convolve(S.rrc(t), S.rrc(t))
    mid = len(r) // 2
    isi = [abs(r[mid + k * fine] / r[mid]) for k in range(-4, 5) if k]
    assert max(isi) < 5e-3  # matched RRC pair = raised cosine: no inter-symbol interference
    rng = np.random.default_rng(0)
    for name in ("GFSK", "CPFSK", "WBFM"):
        np.testing.assert_allclose(np.abs(S.GENERATORS[name](rng, 8)), 1.0, atol=1e-12)
    cpfsk = np.unwrap(np.angle(S.GENERATORS["CPFSK"](rng, 4)), axis=1)
    step = np.abs(np.diff(cpfsk, axis=1))  # rectangular frequency pulse: +-pi h per symbol, evenly per sample
    np.testing.assert_allclose(step, np.pi * S.CPFSK_INDEX / S.SPS, atol=1e-9)


def test_a_tiny_1d_net_learns_it_at_high_snr_and_not_at_minus_10_db() -> None:
    """Real learnability: hynas's own trainer on a 1-D net from a space; chance is 1/11 = 0.09."""
    from hynas.build import build_model
    from hynas.proxy.recipe import TrainRecipe
    from hynas.proxy.trainer import train_proxy
    from hynas.space.loader import parse_space
    from hynas.space.sampling import sample

    arch = sample(parse_space(yaml.safe_load(TINY_AMR)), random.Random(0))
    d = load_dataset("modulation")
    torch.manual_seed(0)
    model = build_model(arch)
    train_proxy(model, d, recipe=TrainRecipe(steps=150, batch_size=64, lr=3e-3, threads=1))
    with torch.no_grad():
        pred = torch.cat([model.eval()(d.val_x[i:i + 550]).argmax(1) for i in range(0, len(d.val_y), 550)])
    hits, snr = (pred == d.val_y).numpy(), S.modulation_snr("val")
    by_snr = S.accuracy_by_snr(hits, snr)
    assert hits[snr >= 10].mean() > 0.55, by_snr
    assert by_snr[-10] < 0.25, by_snr


def test_separation_mixtures_are_the_sum_of_two_audible_sources() -> None:
    s = S.separation(train=24, val=8, length=2048)
    assert tuple(s.train_mix.shape) == (24, 1, 2048) and tuple(s.val_sources.shape) == (8, 2, 2048)
    assert (s.dims, s.channels, s.resolution, s.sources) == (1, 1, 2048, 2)
    assert torch.equal(s.train_mix, s.train_sources.sum(1, keepdim=True))
    rms = s.train_sources.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms[:, 0], torch.ones(24), atol=1e-4)
    ratio_db = 20 * torch.log10(rms[:, 1] / rms[:, 0])
    assert ratio_db.min() >= -5.01 and ratio_db.max() <= 5.01
    again = S.separation(train=24, val=8, length=2048)
    assert torch.equal(again.val_sources, s.val_sources) and not torch.equal(s.val_sources, s.train_sources[:8])
    assert s.describe()["sample_rate"] == S.SEP_RATE


def _orthogonal_pair(n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Two zero-mean, orthogonal signals of equal energy (a sine and a cosine over whole periods)."""
    t = np.arange(n) / n
    return np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 5 * t)


def test_si_snr_on_known_cases() -> None:
    a, b = _orthogonal_pair()
    assert S.si_snr(a, a) > 80  # perfect
    assert S.si_snr(3 * a + 0.3 * b, a) == pytest.approx(20.0, abs=1e-6)  # scale-invariant: 1 vs 0.1^2
    assert S.si_snr(a + 0.1 * b, 0.5 * a) == pytest.approx(20.0, abs=1e-6)
    assert S.si_snr(a + 7.0, a) > 80  # the mean is removed first
    assert S.si_snr(a + b, a) == pytest.approx(0.0, abs=1e-6)
    assert S.si_snr_improvement(a + 0.1 * b, a + b, a) == pytest.approx(20.0, abs=1e-6)
    batch = S.si_snr(torch.tensor(np.stack([a + b, a + 0.1 * b])), torch.tensor(np.stack([a, a])))
    np.testing.assert_allclose(batch, [0.0, 20.0], atol=1e-6)  # torch tensors, batched on the last axis


def test_pit_si_snr_improvement_ignores_the_order_of_estimates() -> None:
    a, b = _orthogonal_pair()
    refs = np.stack([a, b])[None]
    mix = refs.sum(1)
    est = np.stack([a + 0.1 * b, b + 0.1 * a])[None]
    assert S.pit_si_snr_improvement(est, mix, refs)[0] == pytest.approx(20.0, abs=1e-6)
    assert S.pit_si_snr_improvement(est[:, ::-1], mix, refs)[0] == pytest.approx(20.0, abs=1e-6)
    assert S.pit_si_snr_improvement(np.repeat(mix[:, None], 2, 1), mix, refs)[0] == pytest.approx(0.0, abs=1e-6)


def test_an_ideal_binary_mask_separates_the_generated_mixtures() -> None:
    """The two sources occupy different time-frequency cells, so the oracle STFT mask gains a lot."""
    from scipy.signal import istft, stft

    s = S.separation(train=2, val=16, length=2048)
    src, mix = s.val_sources.double().numpy(), s.val_mix[:, 0].double().numpy()
    spec, mixed = stft(src, nperseg=256)[2], stft(mix, nperseg=256)[2]
    mask = np.abs(spec[:, 0]) > np.abs(spec[:, 1])
    est = np.stack([istft(mixed * m, nperseg=256)[1][:, :2048] for m in (mask, ~mask)], axis=1)
    assert S.pit_si_snr_improvement(est, mix, src).mean() > 10.0
