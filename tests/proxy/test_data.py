"""Every dataset format from files the test writes itself; bad paths and bad checksums refused."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from hynas.errors import SpecError, UserError
from hynas.proxy.data import load_dataset
from hynas.proxy.download import download, fetch
from hynas.proxy.formats import FORMATS, read_cifar_batch

RNG = np.random.default_rng(0)


def write_cifar10(folder: Path, per_batch: int = 20) -> None:
    """A miniature cifar-10-batches-py: 5 train batches + test batch, Python-2 style byte keys."""
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in RNG.integers(0, 10, per_batch)],
                 b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"c"] * 10}, protocol=2))


def test_cifar10_folder(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "cifar-10-batches-py")
    d = load_dataset("cifar10", root=str(tmp_path))
    assert (len(d.train_y), len(d.val_y), d.channels, d.resolution) == (100, 20, 3, 32)
    assert load_dataset(str(tmp_path / "cifar-10-batches-py")).describe()["train"] == 100  # by path too


def test_cifar100_folder_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 30), ("test", 10)):
        labels = [99] + [int(v) for v in RNG.integers(0, 100, n - 1)]
        batch = {b"fine_labels": labels, b"coarse_labels": [0] * n, b"data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    d = load_dataset("cifar100", root=str(tmp_path))
    assert d.classes == 100 and len(d.train_y) == 30


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_unpickler_refuses_code(tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="refused global builtins.print"):
        read_cifar_batch(evil)
    write_cifar10(tmp_path / "c10")
    (tmp_path / "c10" / "data_batch_1").write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(SpecError, match="refused global"):
        load_dataset(str(tmp_path / "c10"))


def test_npz_with_and_without_held_out(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (50, 16, 16, 3), dtype=np.uint8)
    y = RNG.integers(0, 4, 50)
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    np.savez(tmp_path / "b.npz", x_train=x[:, :, :, 0], y_train=y)
    a, b = load_dataset(str(tmp_path / "a.npz")), load_dataset(str(tmp_path / "b.npz"))
    assert (len(a.train_y), len(a.val_y), a.channels, a.resolution) == (50, 10, 3, 16)
    assert (len(b.train_y), len(b.val_y), b.channels) == (40, 10, 1)
    np.savez(tmp_path / "c.npz", images=x)
    with pytest.raises(SpecError, match="x_train"):
        load_dataset(str(tmp_path / "c.npz"))


def test_image_folder_with_train_val_split(tmp_path: Path) -> None:
    from PIL import Image

    for split, n in (("train", 4), ("val", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    d = load_dataset(str(tmp_path))
    assert (len(d.train_y), len(d.val_y), d.classes, d.channels, d.resolution) == (8, 4, 2, 3, 40)
    assert tuple(d.train_x.shape) == (8, 3, 40, 48)  # native size kept: nothing resized when loading
    assert d.train_y.tolist() == [0] * 4 + [1] * 4  # sorted class names -> label ids


def test_bad_path_names_path_and_formats(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as e:
        load_dataset(str(tmp_path / "nope"))
    assert "nope" in str(e.value) and "npz" in str(e.value) and "imagefolder" in str(e.value)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SpecError, match="not a dataset"):
        load_dataset(str(tmp_path / "notes.txt"))
    with pytest.raises(UserError, match="not found"):
        load_dataset("cifar10", root=str(tmp_path))
    assert {"cifar", "npz", "imagefolder"} <= set(FORMATS.names())


def make_tarball(tmp_path: Path) -> tuple[Path, str, str]:
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py", per_batch=4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    tarball = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    tarball.parent.mkdir()
    tarball.write_bytes(buf.getvalue())
    return tarball, hashlib.md5(buf.getvalue()).hexdigest(), hashlib.sha256(buf.getvalue()).hexdigest()


def test_download_verifies_checksum_then_extracts(tmp_path: Path) -> None:
    tarball, md5, sha = make_tarball(tmp_path)
    url = tarball.as_uri()
    with pytest.raises(UserError, match="checksum mismatch"):
        fetch("cifar10", tmp_path / "data", url=url, md5="0" * 32)
    assert not list((tmp_path / "data").glob("*.tar.gz*"))  # the bad file was deleted
    folder = fetch("cifar10", tmp_path / "data", url=url, md5=md5, sha256=sha)
    assert folder.name == "cifar-10-batches-py"
    assert len(load_dataset("cifar10", root=str(tmp_path / "data")).train_y) == 20
    with pytest.raises(ValueError, match="without a checksum"):
        download(url, tmp_path / "x.tar.gz")


def test_download_over_local_http(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    tarball, md5, _ = make_tarball(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tarball.parent))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{tarball.name}"
        got = download(url, tmp_path / "dl" / tarball.name, md5=md5)
        assert got.read_bytes() == tarball.read_bytes()
    finally:
        server.shutdown()
