"""The block registry and the contract every block follows.

A block is an ``nn.Module`` class registered with ``@register_block``. The decorator
attaches a ``BlockInfo`` (role, family, paper, knobs) that the torch-free DSL validates
against. Contract, by role (maps are NCHW for images; NCL for 1-D signals and tokens, ``dims=(1,)``):

- ``stem``:       ``Cls(in_ch, out_ch, **knobs)``, reduces the map by ``Cls.reduction(**knobs)``. A stem
  registered with ``fields=True`` embeds feature fields: ``Cls(columns, out_ch, fields=[[name, kind, size],
  ...], **knobs)`` maps a (N, columns) table to (N, out_ch, n_fields) tokens; it is the only stem such
  inputs take.
- ``downsample``: ``Cls(in_ch, out_ch, **knobs)``, halves the map.
- ``upsample``:   ``Cls(in_ch, out_ch, **knobs)``, doubles it (decoder stages, temporal U-Nets).
- ``body``:       ``Cls(in_ch, out_ch, stride=1, **knobs)``, keeps the map (or halves it with
  stride 2 when ``can_stride``); must handle ``in_ch != out_ch``.
- ``head``:       ``Cls(in_ch, num_classes, **knobs)``, map -> logits.

Each class also gives ``macs(in_ch, out_ch, stride, h, w, **knobs)``: its MACs at an input
map of h×w (a 1-D block gets h = its length L and w = 1; a 3-D block gets h = w = the cube's side, its
depth being h too, and the keyword ``dims=3``, so it counts ``h * h * w`` voxels), counted by hand the way fvcore counts (the contract tests hold the formula to
the traced count within 1%), and may give ``check_map(h, w, stride, **knobs)`` returning
why a map size is refused (e.g. a window that does not divide it).

A body block may set ``uses_cls = True`` (and ``cls_in_ch``) on its instances: it is then
called ``x, cls = block(x, cls)`` and the network supplies a class token where a run of
such blocks starts (see ``HybridNet``); a head with ``uses_cls`` classifies from it.
Re-parameterisable blocks give ``reparameterize()`` (see ``hynas.blocks.reparam``).

Block source must use only torch and objects defined in ``hynas.blocks`` modules: the
exporter copies it verbatim into a standalone model file.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hynas.registry import Registry
from hynas.space.catalog import DIMS, ROLES, BlockInfo, Knob

BLOCKS: Registry[type] = Registry("block", loader="hynas.blocks")


def register_block(name: str, *, role: str, family: str, paper: str, knobs: Mapping[str, Knob] | None = None,
                   attention: bool = False, can_stride: bool = False,
                   dims: tuple[int, ...] = (2,), fields: bool = False) -> Callable[[type], type]:
    """Register an ``nn.Module`` class as a block the DSL can use (``dims``: the input kinds it runs on)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not dims or any(d not in DIMS for d in dims):
        raise ValueError(f"dims must be a non-empty tuple drawn from {DIMS}")

    def wrap(cls: type) -> type:
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        cls.block_info = BlockInfo(name=name, role=role, family=family, paper=paper, attention=attention,
                                   knobs=dict(knobs or {}), can_stride=can_stride, doc=doc,
                                   dims=tuple(sorted(set(dims))), fields=fields,
                                   reduction=_stem_reduction(cls) if role == "stem" else None)
        cls.block_name = name
        if not hasattr(cls, "macs"):
            raise TypeError(f"block '{name}' must define a macs(...) formula")
        return BLOCKS.register(name, cls)

    return wrap


def _stem_reduction(cls: type) -> int | str | None:
    """A stem's ``reduction(**knobs)`` as data: the knob it returns (its one named parameter), or its constant."""
    fn = getattr(cls, "reduction", None)
    if fn is None:
        return None
    named = [p.name for p in inspect.signature(fn).parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(named) > 1:
        return None
    if named:
        return named[0]
    return int(fn())


def catalog() -> dict[str, BlockInfo]:
    return {name: cls.block_info for name, cls in BLOCKS.items()}


def block_class(name: str) -> Any:
    return BLOCKS.get(name)
