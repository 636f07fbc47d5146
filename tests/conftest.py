import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("HYNAS_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def nb201_csv() -> Path:
    p = SHARED_DATA / "nb201_cifar10.csv"
    if not p.is_file():
        pytest.skip(f"NAS-Bench-201 table not found at {p}")
    return p
