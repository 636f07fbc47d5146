"""Users' own sequences through ``load_dataset``: .wav class folders (written here with ``wave``) and
.npz signal arrays; every malformed input refused naming the file and what is allowed."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from hynas.errors import SpecError, UserError
from hynas.proxy.data import load_dataset
from hynas.proxy.wavfolder import load_wav_folder, probe, read

RNG = np.random.default_rng(0)


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000, width: int = 2) -> None:
    """``samples``: int array (frames,) or (frames, channels) already in the width's integer range."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = samples.reshape(len(samples), 1) if samples.ndim == 1 else samples
    if width == 1:
        raw = (frames + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = frames.astype(np.int64).reshape(-1) & 0xFFFFFF
        raw = np.stack([v & 0xFF, (v >> 8) & 0xFF, v >> 16], axis=1).astype(np.uint8).tobytes()
    else:
        raw = frames.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def tone_folder(root: Path, lengths: dict[str, list[int]], channels: int = 1, rate: int = 8000) -> None:
    for cls, ns in lengths.items():
        for i, n in enumerate(ns):
            x = RNG.integers(-30000, 30000, (n, channels)) if channels > 1 else RNG.integers(-30000, 30000, n)
            write_wav(root / cls / f"{i}.wav", x, rate)


def test_wav_folder_is_a_1d_dataset_at_the_median_length(tmp_path: Path) -> None:
    tone_folder(tmp_path / "kws", {"yes": [90, 100, 110, 100, 100], "no": [100, 120, 80, 100, 95]})
    d = load_dataset(str(tmp_path / "kws"))
    assert (d.dims, d.channels, d.resolution, d.classes, len(d.train_y) + len(d.val_y)) == (1, 1, 100, 2, 10)
    assert d.notes["sample_rate"] == 8000 and d.notes["classes_named"] == "no,yes"  # sorted names -> ids


def test_stereo_train_val_split_and_a_given_length(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("val", 1)):
        tone_folder(tmp_path / "s" / split, {"a": [64] * n, "b": [70] * n}, channels=2)
    d = load_dataset(str(tmp_path / "s"))
    assert (d.channels, d.resolution, len(d.train_y), len(d.val_y)) == (2, 67, 6, 2)
    short = load_wav_folder(tmp_path / "s", length=50)
    assert tuple(short.train_x.shape) == (6, 2, 50)
    padded = load_wav_folder(tmp_path / "s", length=80)
    raw = padded.train_x * padded.stats()[1][0] + padded.stats()[0][0]  # undo the normalisation
    assert float(raw[0, :, 64:].abs().max()) < 1e-5  # zero-padded past the 64-frame recording


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_every_integer_pcm_width_decodes_to_the_same_scale(tmp_path: Path, width: int) -> None:
    top = 2 ** (8 * width - 1)
    x = np.array([0, top // 2, -top // 2, top - 1, -top])
    write_wav(tmp_path / "x.wav", x, width=width)
    np.testing.assert_allclose(read(probe(tmp_path / "x.wav"))[0], [0, 0.5, -0.5, 1 - 1 / top, -1])


def test_mixed_sample_rates_name_two_files_and_their_rates(tmp_path: Path) -> None:
    tone_folder(tmp_path / "r", {"a": [50, 50], "b": [50]})
    write_wav(tmp_path / "r" / "b" / "odd.wav", RNG.integers(-100, 100, 50), rate=16000)
    with pytest.raises(SpecError) as e:
        load_dataset(str(tmp_path / "r"))
    msg = str(e.value)
    assert "sample rate differs" in msg and "odd.wav has 16000 Hz" in msg and "0.wav has 8000 Hz" in msg
    assert "PCM" in msg  # what is allowed


def test_mixed_channels_empty_class_and_one_class_refused(tmp_path: Path) -> None:
    tone_folder(tmp_path / "c", {"a": [50, 50], "b": [50]})
    write_wav(tmp_path / "c" / "b" / "st.wav", RNG.integers(-100, 100, (50, 2)))
    with pytest.raises(SpecError, match=r"channel count differs: .*has 1 channels, .*st\.wav has 2 channels"):
        load_dataset(str(tmp_path / "c"))
    tone_folder(tmp_path / "e", {"a": [50, 50], "b": [50]})
    (tmp_path / "e" / "empty").mkdir()
    with pytest.raises(SpecError, match="class folder 'empty' holds no .wav files"):
        load_dataset(str(tmp_path / "e"))
    tone_folder(tmp_path / "one", {"a": [50, 50]})
    with pytest.raises(SpecError, match="two or more class folders"):
        load_dataset(str(tmp_path / "one"))


def test_float_wav_and_empty_wav_refused_by_name(tmp_path: Path) -> None:
    tone_folder(tmp_path / "f", {"a": [50, 50], "b": [50]})
    data = np.zeros(50, np.float32).tobytes()  # a WAVE_FORMAT_IEEE_FLOAT (3) file, which wave cannot read
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "f" / "b" / "float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(SpecError) as e:
        load_dataset(str(tmp_path / "f"))
    assert "float.wav" in str(e.value) and "integer PCM" in str(e.value)
    (tmp_path / "f" / "b" / "float.wav").unlink()
    write_wav(tmp_path / "f" / "b" / "silent.wav", np.zeros(0, np.int16))
    with pytest.raises(SpecError, match=r"silent\.wav: holds no samples"):
        load_dataset(str(tmp_path / "f"))


def test_val_class_unknown_to_train_and_bad_length_refused(tmp_path: Path) -> None:
    tone_folder(tmp_path / "v" / "train", {"a": [40], "b": [40]})
    tone_folder(tmp_path / "v" / "val", {"a": [40], "zzz": [40]})
    with pytest.raises(SpecError, match="val/ has class folder.*zzz"):
        load_dataset(str(tmp_path / "v"))
    tone_folder(tmp_path / "ok", {"a": [40, 40], "b": [40]})
    with pytest.raises(SpecError, match="positive number of samples"):
        load_wav_folder(tmp_path / "ok", length=0)


# ---------------------------------------------------------------------------------- .npz signals


def test_npz_signals_with_and_without_held_out(tmp_path: Path) -> None:
    x, y = RNG.standard_normal((30, 3, 64)), np.arange(30) % 3
    np.savez(tmp_path / "a.npz", signals=x, labels=y, val_signals=x[:6], val_labels=y[:6])
    np.savez(tmp_path / "b.npz", signals=x[:, 0], labels=y.astype(np.float64))  # N,L and float-integral labels
    a, b = load_dataset(str(tmp_path / "a.npz")), load_dataset(str(tmp_path / "b.npz"))
    assert (a.dims, a.channels, a.resolution, a.classes, len(a.train_y), len(a.val_y)) == (1, 3, 64, 3, 30, 6)
    assert (b.dims, b.channels, b.resolution, len(b.train_y), len(b.val_y)) == (1, 1, 64, 24, 6)
    np.testing.assert_allclose(a.train_x.mean(dim=(0, 2)).numpy(), 0, atol=1e-5)  # normalised per channel


@pytest.mark.parametrize(("arrays", "match"), [
    ({"labels": np.arange(10) % 2}, "labels' .*NaN"),
    ({"labels": np.arange(9) % 2}, "10 signals but 9 labels"),
    ({"labels": np.arange(10) % 2 - 1}, "label -1 is negative"),
    ({"labels": np.arange(10) % 2 + 0.5}, "labels of dtype float64"),
    ({"labels": np.zeros(10)}, "only class 0"),
    ({}, "no labels"),
    ({"labels": np.arange(10) % 2, "val_signals": np.zeros((4, 2, 32))}, "no val_labels"),
    ({"labels": np.arange(10) % 2, "val_signals": np.zeros((4, 2, 16)), "val_labels": np.zeros(4)}, r"\(2, 16\)"),
    ({"labels": np.arange(10) % 2, "val_signals": np.zeros((4, 2, 32)), "val_labels": np.full(4, 5)},
     "val label 5 is out of range"),
])
def test_bad_npz_signals_refused_naming_file_and_key(tmp_path: Path, arrays: dict, match: str) -> None:
    x = np.zeros((10, 2, 32))
    if match.startswith("labels' "):
        x[3, 1, 7] = np.nan
        match = r"field 'signals': signal 3 holds NaN"
    np.savez(tmp_path / "bad.npz", signals=x, **arrays)
    with pytest.raises(UserError, match=match) as e:
        load_dataset(str(tmp_path / "bad.npz"))
    assert "bad.npz" in str(e.value) and "Allowed:" in str(e.value)


def test_search_on_a_mixed_rate_wav_folder_exits_2_before_writing_a_run(tmp_path: Path, capsys) -> None:
    from tests.cli import run_cli

    tone_folder(tmp_path / "w", {"a": [50, 50], "b": [50]})
    write_wav(tmp_path / "w" / "b" / "odd.wav", RNG.integers(-100, 100, 50), rate=44100)
    run_dir = tmp_path / "run"
    code, err = run_cli(["search", "--dataset", str(tmp_path / "w"), "--run-dir", str(run_dir), "--budget", "1"],
                        capsys)
    assert code == 2 and "odd.wav has 44100 Hz" in " ".join(err.split()) and not (run_dir / "run.json").exists()
