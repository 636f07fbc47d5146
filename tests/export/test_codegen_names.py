"""Generated model files define each copied block/helper under its own name, so no two may share one."""

from __future__ import annotations

import pytest

from hynas.blocks import block_class, catalog
from hynas.blocks.net import HybridNet
from hynas.export import codegen


def test_no_two_registered_blocks_or_helpers_share_a_name() -> None:
    """Every block of the registry in one file: a family's helper must not shadow another family's."""
    codegen._collect([HybridNet] + [block_class(n) for n in sorted(catalog())])


def test_a_name_defined_twice_is_refused() -> None:
    def conv_bn() -> None: ...

    first = conv_bn

    def conv_bn() -> None: ...  # the same name again: the collision under test

    with pytest.raises(ValueError, match="'conv_bn' twice"):
        codegen._check_unique_names([first, conv_bn])
    codegen._check_unique_names([("HEADS", 4), ("HEADS", 4)])  # the same constant twice is one line
    with pytest.raises(ValueError, match="'HEADS' twice"):
        codegen._check_unique_names([("HEADS", 4), ("HEADS", 8)])
