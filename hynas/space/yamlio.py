"""Reading YAML safely: ``safe_load`` semantics plus caps on size, aliases and nesting, and no silent duplicate keys.

Every problem is a ``SpecError`` that names the file (and line where YAML gives one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hynas.errors import SpecError

MAX_FILE_BYTES = 1_000_000
MAX_ALIASES = 64
MAX_DEPTH = 32
MAX_INT_DIGITS = 30  # no count, width or limit in a space needs more; Python refuses > 4300 anyway


class _GuardedLoader(yaml.SafeLoader):
    """safe_load with caps on aliases and nesting depth.

    An anchor bomb is refused instead of expanded, and a deeply nested document (``[[[[...``)
    is refused before the recursive composer runs out of Python stack.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SpecError(f"more than {MAX_ALIASES} YAML aliases (anchor bomb?); write the values out.")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} levels deep; a space needs far fewer.")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Refuse a key written twice in one mapping: YAML would silently keep only the last one."""
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise SpecError(f"key '{key_node.value}' appears twice in one mapping (line "
                                    f"{key_node.start_mark.line + 1}); only one value can count.")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        """Refuse integers of more than ``MAX_INT_DIGITS`` digits before Python converts them."""
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise SpecError(f"an integer of {digits} digits at line {node.start_mark.line + 1}; numbers in a "
                            f"space file have at most {MAX_INT_DIGITS} digits.")
        return super().construct_yaml_int(node)

    def construct_yaml_str(self, node: Any) -> Any:
        """Refuse text with a lone UTF-16 surrogate: it cannot be printed or written as UTF-8."""
        value = super().construct_yaml_str(node)
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise SpecError(f"text at line {node.start_mark.line + 1} holds a lone UTF-16 surrogate "
                            "(an escape like \\ud800); write the character itself.")
        return value


_GuardedLoader.add_constructor("tag:yaml.org,2002:int", _GuardedLoader.construct_yaml_int)
_GuardedLoader.add_constructor("tag:yaml.org,2002:str", _GuardedLoader.construct_yaml_str)


def read_yaml(path: str | Path) -> tuple[Any, str]:
    """Read a YAML file safely: size cap, UTF-8 only, alias cap, syntax errors located."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("file not found (give a path to a YAML space, or a shipped space name).", file=str(p))
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise SpecError(f"file is {p.stat().st_size} bytes; a space file may be at most {MAX_FILE_BYTES}.",
                            file=str(p))
        data = p.read_bytes()
    except OSError as e:  # unreadable (permissions), vanished, a FIFO that fails ...
        raise SpecError(f"cannot read the file ({e.strerror or type(e).__name__}).", file=str(p)) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"file is {len(data)} bytes; a space file may be at most {MAX_FILE_BYTES}.", file=str(p))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"not UTF-8 text (byte {e.start}).", file=str(p)) from None
    try:
        return yaml.load(text, Loader=_GuardedLoader), text
    except SpecError as e:
        raise e.located(str(p)) from None
    except RecursionError:  # a backstop: the depth cap above should stop it first
        raise SpecError("nested too deeply to read.", file=str(p)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"YAML syntax error{where}: {problem}.", file=str(p)) from None
