"""Generated 1-D data, no download: ``modulation`` (the embedded signal default) and a separation set.

``modulation`` is automatic modulation recognition on 2x128 I/Q frames, following the conventions of
RadioML 2016.10a (O'Shea, Corgan & Clancy, "Convolutional Radio Modulation Recognition Networks",
EANN 2016; generator radioML/dataset, ``transmitters.py`` and ``generate_RML2016.10a.py`` at commit
4ecf612cfbc5bfc80eb8b0dbe63ed685d0a73c44): the same 11 classes, 8 samples per symbol, root-raised-cosine
pulses with roll-off 0.35 spanning 11 symbols for the linear modulations, GFSK with BT 0.35 and GNU
Radio's sensitivity 0.1 rad/sample (modulation index 0.8/pi), CPFSK with index 0.5, frames of 128
complex samples, SNRs in 2 dB steps. Our own numpy generator (theirs is a GNU Radio flow graph):

- linear (BPSK, QPSK, 8PSK, QAM16, QAM64, PAM4): uniform random symbols, pulses evaluated in closed
  form at a random fractional symbol-timing offset, so no interpolation filter is needed;
- FSK (GFSK, CPFSK): continuous phase from a rectangular (CPFSK) or Gaussian-filtered rectangular
  (GFSK, closed form with erf) frequency pulse, the same random timing offset;
- analog (AM-DSB with carrier, AM-SSB upper sideband, WBFM): the audio message is a sum of three
  tones at 100 Hz..4 kHz for a 200 kS/s stream (theirs is a podcast); SSB is exact (the Hilbert
  transform of a sine is known), WBFM peaks at up to 75 kHz / 220.5 kS/s (``wfm_tx``'s deviation);
- channel: every frame scaled to unit mean power, then a uniform random carrier phase, a uniform
  frequency offset of at most 500 Hz at 200 kS/s (the max CFO of their ``dynamic_channel_model``) and
  complex AWGN of power 10^(-SNR/10). Their multipath fading and sample-rate drift are left out, and
  their AM-SSB (a 0 Hz sine carrier, so pure noise) is replaced by a real single-sideband signal.

SNRs default to -10..18 dB (RadioML 2016.10a: -20..18 dB; below -10 dB frames are noise for every
class and only cost training time). Each class has the same number of frames at each SNR. The SNR of
every frame is kept: ``modulation_snr("val")`` gives it in the held-out split's order, so a benchmark
can report accuracy per SNR band (``accuracy_by_snr``). The default size (1,000 train + 300 held-out
frames per class) is generated in well under a second, the same bytes for the same seed.

``separation`` mixes two synthetic sources: a harmonic tone with vibrato and a note envelope, and
band-passed noise bursts or a chirp; the clean sources are kept as targets (``SeparationSet``). It is
scored by ``si_snr_improvement`` (scale-invariant SNR, Le Roux, Wisdom, Erdogan & Hershey, "SDR -
half-baked or well done?", ICASSP 2019): the SI-SNR of the estimate minus that of the mixture.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np
import torch
from scipy.special import erf

from hynas.proxy.data import DATASETS, Dataset, from_arrays

MODULATIONS = ("BPSK", "QPSK", "8PSK", "QAM16", "QAM64", "PAM4", "GFSK", "CPFSK", "AM-DSB", "AM-SSB", "WBFM")
LENGTH, SPS, ROLLOFF, SPAN = 128, 8, 0.35, 11  # samples per frame, samples per symbol, RRC roll-off, RRC span
SNR_DB = tuple(range(-10, 20, 2))
CFO_MAX = 500 / 200e3  # cycles per sample
PER_CLASS = {"train": 1000, "val": 300}
GFSK_BT, GFSK_INDEX, CPFSK_INDEX = 0.35, 0.8 / np.pi, 0.5
WBFM_DEV = 75e3 / 220.5e3  # peak deviation, cycles per sample


def rrc(t: np.ndarray, beta: float = ROLLOFF) -> np.ndarray:
    """Root-raised-cosine pulse at ``t`` symbols (unit peak energy scale is irrelevant: frames are normalised)."""
    t = np.asarray(t, dtype=np.float64)
    at_zero, at_edge = np.abs(t) < 1e-9, np.abs(np.abs(t) - 1 / (4 * beta)) < 1e-9
    ts = np.where(at_zero | at_edge, 0.5, t)  # any harmless value where the general formula divides by 0
    num = np.sin(np.pi * ts * (1 - beta)) + 4 * beta * ts * np.cos(np.pi * ts * (1 + beta))
    out = num / (np.pi * ts * (1 - (4 * beta * ts) ** 2))
    edge = beta / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * beta)) + (1 - 2 / np.pi) * np.cos(np.pi / (4 * beta)))
    return np.where(at_zero, 1 - beta + 4 * beta / np.pi, np.where(at_edge, edge, out))


def _pulses(rng: np.random.Generator, n: int, reach: float, pulse: Any) -> tuple[np.ndarray, np.ndarray]:
    """Symbol indices covering the frame plus ``reach`` symbols each side, and ``pulse`` (of time in
    symbols) at every sample for every symbol, (n, K, L), after a per-frame random fractional timing
    offset. The value depends only on the lag (sample - SPS * symbol), so each frame evaluates the
    pulse once per lag (a few hundred points) and gathers, instead of K x L times."""
    k = np.arange(-int(np.ceil(reach)) - 1, LENGTH // SPS + int(np.ceil(reach)) + 1)
    lag = np.arange(LENGTH)[None, :] - SPS * k[:, None]
    lags = np.arange(lag.min(), lag.max() + 1)
    table = pulse(lags[None, :] / SPS - rng.uniform(0.0, 1.0, (n, 1)))
    return k, table[:, lag - lags[0]]


def _linear(points: np.ndarray) -> Any:
    points = np.asarray(points, dtype=np.complex128)

    def make(rng: np.random.Generator, n: int) -> np.ndarray:
        k, pulse = _pulses(rng, n, SPAN / 2, lambda t: rrc(t) * (np.abs(t) <= SPAN / 2))
        sym = points[rng.integers(0, len(points), (n, len(k)))]
        return (np.matmul(sym.real[:, None], pulse) + 1j * np.matmul(sym.imag[:, None], pulse))[:, 0]
    return make


def _fsk(index: float, bt: float | None) -> Any:
    """Binary continuous-phase FSK: phase advances by +-pi*index per symbol; Gaussian-filtered when ``bt``."""
    def rect(t: np.ndarray) -> np.ndarray:
        return ((t >= 0) & (t < 1)).astype(np.float64)

    def gauss_rect(t: np.ndarray) -> np.ndarray:  # a unit rectangle convolved with a Gaussian
        s = np.sqrt(np.log(2)) / (2 * np.pi * bt) * np.sqrt(2)  # sigma sqrt(ln 2)/(2 pi BT) symbols, x sqrt 2
        return 0.5 * (erf(t / s) - erf((t - 1) / s))

    def make(rng: np.random.Generator, n: int) -> np.ndarray:
        k, pulse = _pulses(rng, n, 3.0, rect if bt is None else gauss_rect)
        bits = rng.choice([-1.0, 1.0], (n, 1, len(k)))
        freq = np.matmul(bits, pulse)[:, 0] * index / (2 * SPS)  # cycles per sample
        return np.exp(2j * np.pi * np.cumsum(freq, axis=1))
    return make


def _tones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three audio tones per frame: amplitudes, frequencies (cycles/sample) and phases at each sample."""
    amp = rng.uniform(0.2, 1.0, (n, 3, 1))
    freq = np.exp(rng.uniform(np.log(100 / 200e3), np.log(4e3 / 200e3), (n, 3, 1)))
    theta = 2 * np.pi * freq * np.arange(LENGTH) + rng.uniform(0, 2 * np.pi, (n, 3, 1))
    return amp / amp.sum(axis=1, keepdims=True), freq, theta  # the message peaks at most at 1


def _am_dsb(rng: np.random.Generator, n: int) -> np.ndarray:
    amp, _, theta = _tones(rng, n)
    depth = rng.uniform(0.3, 0.9, (n, 1))
    return (1 + depth * (amp * np.sin(theta)).sum(axis=1)).astype(np.complex128)


def _am_ssb(rng: np.random.Generator, n: int) -> np.ndarray:
    amp, _, theta = _tones(rng, n)  # sin + j*H(sin) = -j*exp(j theta): the upper sideband, no carrier
    return (amp * np.exp(1j * theta)).sum(axis=1)


def _wbfm(rng: np.random.Generator, n: int) -> np.ndarray:
    amp, _, theta = _tones(rng, n)
    dev = rng.uniform(0.3, 1.0, (n, 1)) * WBFM_DEV
    return np.exp(2j * np.pi * np.cumsum(dev * (amp * np.sin(theta)).sum(axis=1), axis=1))


def _qam(m: int) -> np.ndarray:
    side = np.arange(-(int(np.sqrt(m)) - 1), int(np.sqrt(m)), 2)
    return (side[:, None] + 1j * side[None, :]).ravel()


GENERATORS = {
    "BPSK": _linear([-1, 1]), "QPSK": _linear(np.exp(1j * np.pi * (2 * np.arange(4) + 1) / 4)),
    "8PSK": _linear(np.exp(2j * np.pi * np.arange(8) / 8)), "QAM16": _linear(_qam(16)),
    "QAM64": _linear(_qam(64)), "PAM4": _linear([-3, -1, 1, 3]),
    "GFSK": _fsk(GFSK_INDEX, GFSK_BT), "CPFSK": _fsk(CPFSK_INDEX, None),
    "AM-DSB": _am_dsb, "AM-SSB": _am_ssb, "WBFM": _wbfm,
}


def _channel(rng: np.random.Generator, s: np.ndarray, snr_db: np.ndarray) -> np.ndarray:
    """Unit mean power per frame, random carrier phase and frequency offset, complex AWGN at ``snr_db``."""
    s = s / np.sqrt(np.mean(np.abs(s) ** 2, axis=1, keepdims=True))
    n = len(s)
    cfo = rng.uniform(-CFO_MAX, CFO_MAX, (n, 1))
    s = s * np.exp(1j * (2 * np.pi * cfo * np.arange(LENGTH) + rng.uniform(0, 2 * np.pi, (n, 1))))
    sigma = np.sqrt(10.0 ** (-snr_db[:, None] / 10) / 2)
    return s + sigma * (rng.standard_normal(s.shape) + 1j * rng.standard_normal(s.shape))


@functools.lru_cache(maxsize=8)
def modulation_arrays(split: str = "train", seed: int = 0, per_class: int | None = None,
                      snr_db: tuple[int, ...] = SNR_DB) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 (N, 2, L) I/Q frames, int64 labels (index into ``MODULATIONS``) and each frame's SNR in dB.

    Frames are shuffled with the seed (so an evaluation of the first few frames sees every class);
    ``split`` selects an independent stream ("train" and "val" never share a frame).
    """
    per_class = PER_CLASS[split] if per_class is None else per_class
    split_id = {"train": 0, "val": 1}[split]
    xs, ys, snrs = [], [], []
    for label, name in enumerate(MODULATIONS):
        rng = np.random.default_rng([seed, split_id, label])
        snr = np.asarray(snr_db, dtype=np.float64)[np.arange(per_class) % len(snr_db)]
        s = _channel(rng, GENERATORS[name](rng, per_class), snr)
        xs.append(np.stack([s.real, s.imag], axis=1).astype(np.float32))
        ys.append(np.full(per_class, label, dtype=np.int64))
        snrs.append(snr.astype(np.int64))
    order = np.random.default_rng([seed, split_id, len(MODULATIONS)]).permutation(per_class * len(MODULATIONS))
    return np.concatenate(xs)[order], np.concatenate(ys)[order], np.concatenate(snrs)[order]


def modulation_snr(split: str = "val", seed: int = 0) -> np.ndarray:
    """The SNR (dB) of every frame of the registered ``modulation`` dataset's ``split``, in its order."""
    return modulation_arrays(split, seed)[2]


def accuracy_by_snr(correct: np.ndarray | torch.Tensor, snr_db: np.ndarray) -> dict[int, float]:
    """Accuracy (fraction) at each SNR, from per-frame hits in the split's order."""
    hits = np.asarray(correct, dtype=np.float64).reshape(-1)
    snr_db = np.asarray(snr_db).reshape(-1)
    return {int(s): float(hits[snr_db == s].mean()) for s in np.unique(snr_db)}


@DATASETS.decorator("modulation")
def modulation(root: str | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """11 modulations as 2x128 I/Q frames at -10..18 dB SNR, 11,000 train / 3,300 held-out, generated."""
    xt, yt, _ = modulation_arrays("train", seed)
    xv, yv, _ = modulation_arrays("val", seed)
    d = from_arrays("modulation", xt, yt, val_images=xv, val_labels=yv, dims=1, seed=seed)
    d.notes.update({"snr_db": f"{SNR_DB[0]}..{SNR_DB[-1]} step {SNR_DB[1] - SNR_DB[0]}",
                    "modulations": ",".join(MODULATIONS)})
    return d


# ---------------------------------------------------------------------------------- separation

SEP_RATE, SEP_LENGTH = 8000, 4096  # Hz, samples (0.512 s)


@dataclass(frozen=True)
class SeparationSet:
    """Mixtures (N, 1, L) and their clean sources (N, 2, L: harmonic, then noise/chirp), float32, unnormalised.

    Not a ``Dataset``: the targets are signals, not labels, and the trainer has no separation
    objective yet; ``mix == sources.sum(1)`` exactly, so SI-SNR improvement is well defined.
    """

    name: str
    train_mix: torch.Tensor
    train_sources: torch.Tensor
    val_mix: torch.Tensor
    val_sources: torch.Tensor
    sample_rate: int
    notes: dict[str, Any] = field(default_factory=dict, compare=False)

    dims = 1
    channels = 1

    @property
    def resolution(self) -> int:
        return int(self.train_mix.shape[-1])

    @property
    def sources(self) -> int:
        return int(self.train_sources.shape[1])

    def describe(self) -> dict:
        return {"name": self.name, "train": len(self.train_mix), "val": len(self.val_mix), "sources": self.sources,
                "channels": 1, "length": self.resolution, "dims": 1, "sample_rate": self.sample_rate, **self.notes}


def _envelope(rng: np.random.Generator, n: int, length: int, bursts: int) -> np.ndarray:
    """1..``bursts`` Hann-shaped bumps per row at random places and widths (5-40% of the length),
    each at least half inside the frame, so no source is silent."""
    t = np.arange(length)[None, None, :]
    width = rng.uniform(0.05, 0.4, (n, bursts, 1)) * length
    start = rng.uniform(0.0, 1.0, (n, bursts, 1)) * length - width / 2
    used = np.arange(bursts)[None, :, None] < rng.integers(1, bursts + 1, (n, 1, 1))
    return (used * np.sin(np.pi * np.clip((t - start) / width, 0, 1)) ** 2).sum(axis=1)


def _harmonic(rng: np.random.Generator, n: int, length: int, rate: int) -> np.ndarray:
    """Notes of 110-440 Hz with 4-7 Hz vibrato (0.5-3% depth) and 8 harmonics falling as k^-a."""
    t = np.arange(length)[None, :] / rate
    f0 = np.exp(rng.uniform(np.log(110), np.log(440), (n, 1)))
    vib_hz, vib_phase = rng.uniform(4, 7, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
    vib = rng.uniform(0.005, 0.03, (n, 1)) * np.sin(2 * np.pi * vib_hz * t + vib_phase)
    phase = 2 * np.pi * np.cumsum(f0 * (1 + vib), axis=1) / rate
    tilt = rng.uniform(1.0, 2.0, (n, 1))
    z, zk = np.exp(1j * phase), np.ones((n, length), dtype=np.complex128)
    out = np.zeros((n, length))
    for k in range(1, 9):  # z**k by repeated products: far cheaper than a sine per harmonic
        zk *= z
        audible = k * f0 < rate / 2  # nothing above Nyquist
        out += audible * k ** -tilt * (zk * np.exp(1j * rng.uniform(0, 2 * np.pi, (n, 1)))).imag
    return out * (0.2 + _envelope(rng, n, length, 1))


def _noise_or_chirp(rng: np.random.Generator, n: int, length: int, rate: int) -> np.ndarray:
    """Half the rows: white noise band-passed around 300-3000 Hz in 1-3 bursts; the rest: a linear chirp."""
    spec = np.fft.rfft(rng.standard_normal((n, length)), axis=1)
    f = np.fft.rfftfreq(length, 1 / rate)[None, :]
    centre = np.exp(rng.uniform(np.log(300), np.log(3000), (n, 1)))
    band = np.exp(-0.5 * ((f - centre) / rng.uniform(80, 500, (n, 1))) ** 2)
    noise = np.fft.irfft(spec * band, n=length, axis=1)
    noise *= _envelope(rng, n, length, 3)
    f_a, f_b = np.exp(rng.uniform(np.log(200), np.log(3500), (2, n, 1)))
    t = np.arange(length)[None, :] / rate
    chirp = np.sin(2 * np.pi * (f_a * t + (f_b - f_a) * t ** 2 / (2 * t[0, -1])) + rng.uniform(0, 6.3, (n, 1)))
    chirp *= _envelope(rng, n, length, 1)
    return np.where(rng.random((n, 1)) < 0.5, noise, chirp)


def separation_arrays(n: int, seed: int = 0, split_id: int = 0, length: int = SEP_LENGTH,
                      rate: int = SEP_RATE) -> np.ndarray:
    """float32 (n, 2, length) source pairs at unit RMS each, the second at -5..5 dB relative to the first."""
    rng = np.random.default_rng([seed, split_id, 99])
    s1, s2 = _harmonic(rng, n, length, rate), _noise_or_chirp(rng, n, length, rate)
    rms = lambda s: np.sqrt(np.mean(s ** 2, axis=1, keepdims=True)) + 1e-12
    gain = 10 ** (rng.uniform(-5, 5, (n, 1)) / 20)
    return np.stack([s1 / rms(s1), gain * s2 / rms(s2)], axis=1).astype(np.float32)


def separation(root: str | None = None, download: bool = False, *, train: int = 800, val: int = 200,
               length: int = SEP_LENGTH, seed: int = 0) -> SeparationSet:
    """Two-source mixtures, 1 x ``length`` at 8 kHz; not registered in DATASETS until the trainer can use it."""
    tr, va = (torch.from_numpy(separation_arrays(k, seed, i, length)) for i, k in ((0, train), (1, val)))
    return SeparationSet("separation", tr.sum(1, keepdim=True), tr, va.sum(1, keepdim=True), va, SEP_RATE,
                         notes={"sources_are": "harmonic+vibrato, noise bursts or chirp"})


def _np(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def si_snr(est: Any, ref: Any, eps: float = 1e-8) -> np.ndarray:
    """Scale-invariant SNR in dB over the last axis: zero-mean both, project ``est`` on ``ref``,
    compare the projection's energy with the rest (Le Roux et al. 2019, eq. 3)."""
    est, ref = _np(est), _np(ref)
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    scale = (est * ref).sum(-1, keepdims=True) / ((ref ** 2).sum(-1, keepdims=True) + eps)
    target = scale * ref
    noise = est - target
    return 10 * np.log10(((target ** 2).sum(-1) + eps) / ((noise ** 2).sum(-1) + eps))


def si_snr_improvement(est: Any, mix: Any, ref: Any) -> np.ndarray:
    """SI-SNRi in dB: how much closer to ``ref`` the estimate is than the mixture itself."""
    return si_snr(est, ref) - si_snr(mix, ref)


def pit_si_snr_improvement(est: Any, mix: Any, refs: Any) -> np.ndarray:
    """Per-example mean SI-SNRi (dB) of ``est`` (N, S, L) against ``refs`` (N, S, L) under the best
    assignment of estimates to sources (permutation-invariant, as separation papers report it)."""
    est, refs, mix = _np(est), _np(refs), _np(mix).reshape(len(refs), 1, -1)
    scores = [si_snr_improvement(est[:, list(p)], mix, refs).mean(axis=1) for p in permutations(range(refs.shape[1]))]
    return np.max(np.stack(scores), axis=0)


@DATASETS.decorator("separation")
def separation_dataset(root: str | None = None, download: bool = False) -> Dataset:
    """Two-source mixtures (1 x 4096 at 8 kHz) with their clean sources as targets: task ``separate``.

    Mixtures and sources are divided by one number (the train mixtures' std), so the sources
    still add up to the mixture and SI-SNR is unchanged.
    """
    s = separation()
    scale = float(s.train_mix.std()) or 1.0
    return Dataset(name="separation", train_x=s.train_mix / scale, train_y=s.train_sources / scale,
                   val_x=s.val_mix / scale, val_y=s.val_sources / scale, classes=s.sources,
                   notes={"storage": "memory", "sample_rate": str(s.sample_rate)}, task="separate")
