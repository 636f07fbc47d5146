"""A tiny named registry: extensions join with a decorator and are listed by `hynas list`.

Blocks, proxies, latency targets, datasets and samplers each own one ``Registry``. No
``if kind == ...`` ladders anywhere: code looks entries up by name and gets a clear error
listing the known names when one is missing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from hynas.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, loader: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loader = loader  # package whose modules register entries, imported on first use
        self._loaded = loader is None

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            return self.register(name, item)
        return wrap

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            import_submodules(self._loader)  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        self._ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} '{name}'. Known: {', '.join(self.names())}.") from None

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._ensure_loaded()
        return iter(sorted(self._items.items()))


def import_submodules(package: str) -> list[Any]:
    """Import every module of a package so that their decorators register entries."""
    pkg = importlib.import_module(package)
    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"{package}.{info.name}"))
    return mods
