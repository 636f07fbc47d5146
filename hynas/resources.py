"""Where the files hynas ships live: spaces, reference models, latency predictors, tables.

A wheel carries them inside the package (``hynas/_shipped/search_spaces``,
``hynas/_shipped/predictors``: copied there at build time from the repository's top-level
``search_spaces/`` and ``predictors/``) and ``hynas/data/``. A source checkout or an
editable install has no ``_shipped`` folder and reads the repository's own folders, so
an edit there is seen at once. Both are found through ``importlib.resources``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SHIPPED = "_shipped"  # the folder inside the package that the build fills


def _package_dir() -> Path:
    root = files("hynas")
    path = Path(str(root))
    if not path.is_dir():  # e.g. a zip import: the loaders below need real files
        raise RuntimeError(f"hynas is installed at {root}, not a folder; install it unzipped.")
    return path


def shipped_dir(kind: str) -> Path:
    """The folder of shipped ``kind`` files ("search_spaces" or "predictors").

    The one inside the installed package when the wheel put it there, else the source
    checkout's top-level folder (editable install / running from a clone).
    """
    pkg = _package_dir()
    packaged = pkg / SHIPPED / kind
    if packaged.is_dir():
        return packaged
    checkout = pkg.parent / kind
    return checkout if checkout.is_dir() else packaged


def spaces_dir() -> Path:
    """Shipped search spaces (``<name>.yaml``, usable as ``--space <name>``)."""
    return shipped_dir("search_spaces")


def references_dir() -> Path:
    """Shipped reference models: fixed-architecture spaces (``nextvit_s.yaml``, ...)."""
    return spaces_dir() / "reference"


def predictors_dir() -> Path:
    """Shipped latency predictors (``<target>.json``)."""
    return shipped_dir("predictors")


def data_dir() -> Path:
    """Package data that lives inside the package in every install (``hynas/data``)."""
    return _package_dir() / "data"


def tables_dir() -> Path:
    """Shipped benchmark tables (``hynas/data/tables``)."""
    return data_dir() / "tables"
