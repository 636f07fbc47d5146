"""Fixtures shared by the reliability tests: faulty blocks registered for one test only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.faulty import FAULTY


@pytest.fixture
def faulty_blocks() -> Iterator[dict[str, type]]:
    """Register the deliberately failing blocks; pop them from the registry afterwards."""
    from hynas.blocks import BLOCKS, register_block

    for name, cls in FAULTY.items():
        register_block(name, role="body", family="test", paper="test only", can_stride=True)(cls)
    try:
        yield FAULTY
    finally:
        for name in FAULTY:
            BLOCKS._items.pop(name, None)
