"""Download a dataset tarball, verify its checksum, extract it safely; register CIFAR-10/100.

The official CIFAR tarballs and their MD5 sums are the ones published on
https://www.cs.toronto.edu/~kriz/cifar.html (and checked by torchvision). A download that
does not match its checksum is deleted and refused: a truncated or tampered archive never
reaches the (restricted) unpickler. Extraction uses tarfile's ``data`` filter, which
rejects absolute paths, ``..`` and links pointing outside the target folder.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hynas.errors import UserError
from hynas.proxy.data import DATASETS, Dataset
from hynas.proxy.formats import load_cifar


@dataclass(frozen=True)
class Source:
    url: str
    md5: str
    folder: str  # the folder the tarball extracts to


SOURCES = {
    "cifar10": Source("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
    "cifar100": Source("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                       "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"),
}


def default_root() -> Path:
    return Path(os.environ.get("HYNAS_DATA", Path.home() / ".cache" / "hynas" / "datasets"))


def download(url: str, dest: Path, *, md5: str | None = None, sha256: str | None = None) -> Path:
    """Stream ``url`` (http(s):// or file://) to ``dest``; keep it only if the checksums match."""
    if md5 is None and sha256 is None:
        raise ValueError("refusing to download without a checksum (md5 or sha256)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise UserError(f"could not download {url}: {e}") from None
    for name, want in (("md5", md5), ("sha256", sha256)):
        got = hashes[name].hexdigest()
        if want is not None and got != want.lower():
            part.unlink(missing_ok=True)
            raise UserError(f"checksum mismatch for {url}: {name} {got}, expected {want}. The file was deleted.")
    part.replace(dest)
    return dest


def extract(tarball: Path, root: Path) -> None:
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")


def fetch(name: str, root: Path | None = None, *, url: str | None = None, md5: str | None = None,
          sha256: str | None = None) -> Path:
    """Make sure ``root/<folder>`` of a known source exists, downloading and verifying it if needed.

    ``url``/``md5``/``sha256`` override the official source (a mirror, or a test's local file).
    """
    src = SOURCES[name]
    root = Path(root) if root else default_root()
    folder = root / src.folder
    if not folder.is_dir():
        checksum = {"md5": md5, "sha256": sha256} if (md5 or sha256) else {"md5": src.md5}
        tarball = download(url or src.url, root / Path(src.url).name, **checksum)
        extract(tarball, root)
    if not folder.is_dir():
        raise UserError(f"{name}: the archive did not contain the folder {src.folder}")
    return folder


def _cifar(name: str, root: str | None, download: bool) -> Dataset:
    base = Path(root) if root else default_root()
    folder = base / SOURCES[name].folder
    if not folder.is_dir():
        if not download:
            raise UserError(f"{name} not found at {folder}. Set HYNAS_DATA to the folder that holds "
                            f"{SOURCES[name].folder}, or pass that folder itself as the dataset "
                            f"(--dataset PATH/{SOURCES[name].folder}); or download it there with "
                            f"`python -c \"from hynas.proxy.download import fetch; fetch('{name}')\"` "
                            "(official archive, checksum verified).")
        folder = fetch(name, base)
    return load_cifar(folder)


@DATASETS.decorator("cifar10")
def cifar10(root: str | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 python batches under ``root`` (50,000 train / 10,000 test), downloaded if allowed."""
    return _cifar("cifar10", root, download)


@DATASETS.decorator("cifar100")
def cifar100(root: str | None = None, download: bool = False) -> Dataset:
    """CIFAR-100 python batches (fine labels) under ``root``, downloaded if allowed."""
    return _cifar("cifar100", root, download)
