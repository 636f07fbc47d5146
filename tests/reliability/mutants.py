"""Hypothesis strategies that turn a valid space file into broken ones.

A mutation picks a place in the parsed YAML tree (any mapping value or list element)
and breaks it one way: a value of the wrong type, an out-of-range or huge number, an
unknown key, a removed key, an empty list or mapping, a text that tries to smuggle code.
Whole-file attacks (non-UTF-8 bytes, anchor bombs, deep nesting, Python tags, syntax
errors) come from ``raw_attacks``.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import strategies as st

WEIRD_VALUES: list[Any] = [None, "", "x", "ÿ", 3.5, -1, 0, 10**9, 2**70, True, [], {}, [[1]], {"a": 1},
                           float("nan"), float("inf"), "1e400", 'x"]; import os; os.system("id")#',
                           "__import__('os')", "a" * 5000, {"range": [1, 10**6]}, {"range": [5, 1]},
                           {"range": [1, 2**70]}, {"range": [0, 10**12, 1]}]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in the tree a mutation can hit (the root excluded)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(paths(v, prefix + (k,)))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    for k in path[:-1]:
        doc = doc[k]
    return doc


def apply(doc: Any, path: tuple, op: str, value: Any) -> Any:
    """A copy of ``doc`` with the node at ``path`` broken by ``op``."""
    doc = copy.deepcopy(doc)
    parent, key = _parent(doc, path), path[-1]
    if op == "replace":
        parent[key] = value
    elif op == "delete":
        del parent[key]
    elif op == "unknown_key":
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target["bogus_key"] = value
        else:
            parent[key] = value
    elif op == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], (list, dict, str)) else []
    elif op == "huge":
        node = parent[key]  # too many choices / keys, or a huge number (bounded: no exponential blow-up)
        parent[key] = (list(range(1, 301)) if isinstance(node, list) else
                       {f"k{i}": i for i in range(300)} if isinstance(node, dict) else 10**12)
    return doc


@st.composite
def mutated_docs(draw: Any, base: Any) -> tuple[Any, str]:
    """(broken document, description of what was done)."""
    all_paths = paths(base)
    n = draw(st.integers(1, 3))
    doc, what = base, []
    for _ in range(n):
        avail = paths(doc) or all_paths
        path = draw(st.sampled_from(avail))
        op = draw(st.sampled_from(["replace", "replace", "delete", "unknown_key", "empty", "huge"]))
        value = draw(st.sampled_from(WEIRD_VALUES))
        try:
            doc = apply(doc, path, op, value)
        except (KeyError, IndexError, TypeError):
            continue
        what.append(f"{op} {'.'.join(map(str, path))} {value!r:.40}")
    return doc, "; ".join(what)


class _NoAliasDumper(yaml.SafeDumper):
    """Write repeated objects out in full: the mutants test the loader, not its alias cap."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_NoAliasDumper, allow_unicode=True, sort_keys=False)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))

RAW_ATTACKS: dict[str, bytes] = {
    "non_utf8": b"name: caf\xe9\ninput: {channels: 1}\n",
    "utf16_bom": "name: x\n".encode("utf-16"),
    "anchor_bomb": BOMB.encode(),
    "deep_nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "python_object": b"name: !!python/object/apply:os.system ['echo pwned']\n",
    "python_name": b"name: !!python/name:os.system\n",
    "syntax_error": b"name: [unclosed\nstages: {\n",
    "tabs": b"name:\t\tx\n\tstages: 1\n",
    "empty_file": b"",
    "just_null": b"~\n",
    "a_list": b"- 1\n- 2\n",
    "huge_file": b"# " + b"x" * 2_000_000 + b"\n",
    "duplicate_keys": b"name: a\nname: b\n",
    "binary_zeros": b"\x00\x00\x00\x00",
}
