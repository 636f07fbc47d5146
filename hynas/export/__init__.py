"""Export a chosen Arch as a standalone PyTorch source file (torch only, readable classes)."""

from hynas.export.codegen import generate_source, load_generated

__all__ = ["generate_source", "load_generated"]
