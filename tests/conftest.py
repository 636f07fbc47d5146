import os
from pathlib import Path

import pytest
import torch

from hynas.nb201 import TABLES_DIR

torch.set_num_threads(1)
os.environ.setdefault("HYNAS_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
NB201_TABLE = TABLES_DIR / "nb201_cifar10.csv.gz"  # shipped with the package (hynas/data/tables)


@pytest.fixture
def nb201_csv() -> Path:
    """The NAS-Bench-201 CIFAR-10 table as shipped (gzipped CSV; every reader takes .csv.gz)."""
    return NB201_TABLE
