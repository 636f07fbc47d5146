"""Block registry and the block families (one module per family, registered on import)."""

from hynas.blocks.base import BLOCKS, block_class, catalog, register_block

__all__ = ["BLOCKS", "block_class", "catalog", "register_block"]
