import random
from pathlib import Path

import pytest

from hynas.latency.timing import TimingPolicy

HERE = Path(__file__).resolve().parent
TINY_SPACE = str(HERE / "tiny_space.yaml")
QUICK = TimingPolicy(warmup_s=0.005, min_repeats=5, min_time_s=0.01, max_time_s=0.1, retries=0)


@pytest.fixture(scope="session")
def tiny_space():
    from hynas.space import load_space

    return load_space(TINY_SPACE)


@pytest.fixture(scope="session")
def tiny_archs(tiny_space):
    from hynas.space import sample

    rng = random.Random(0)
    archs = {}
    while len(archs) < 6:
        a = sample(tiny_space, rng)
        archs[a.hash] = a
    return list(archs.values())
