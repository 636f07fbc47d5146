"""Untrusted files: nothing hynas reads is executed, and generated code holds only validated values.

Source-level checks walk the AST of every module in the package (not a text grep, so
comments and docstrings do not count): no ``eval``/``exec``/``compile`` except the one
loader of generated code, ``yaml`` only through the SafeLoader subclass, ``torch.load``
only with ``weights_only=True``, ``np.load`` only with ``allow_pickle=False``, no plain
``pickle.load``. Behavioural checks feed specs and archs that try to inject code.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import pickle
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hynas.build import validate_arch
from hynas.errors import ArchError, SpecError
from hynas.space import Arch, load_space, sample

PKG = Path(__file__).resolve().parents[2] / "hynas"
INJECT = 'x"]; import os; os.system("touch /tmp/hynas_pwned")#'
EXEC_ALLOWED = {("export/codegen.py", "load_generated")}  # runs source hynas generated from a validated arch


@functools.lru_cache(maxsize=1)
def _all_calls() -> tuple[tuple[str, str, ast.Call], ...]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        visitor = _CallVisitor(str(path.relative_to(PKG)))
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        out.extend(visitor.calls)
    return tuple(out)


class _CallVisitor(ast.NodeVisitor):
    """Collects every call with the name of the innermost function around it."""

    def __init__(self, file: str) -> None:
        self.file, self.stack, self.calls = file, ["<module>"], []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        self.calls.append((self.file, self.stack[-1], node))
        self.generic_visit(node)


def _calls() -> Iterator[tuple[str, str, ast.Call]]:
    """(file relative to the package, enclosing function, call) for every call in the package."""
    return iter(_all_calls())


def _name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else "?"
        return f"{base}.{f.attr}"
    return "?"


def _kw(call: ast.Call, key: str) -> Any:
    for k in call.keywords:
        if k.arg == key and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


def test_no_eval_or_exec_outside_the_generated_code_loader() -> None:
    found = {(f, fn) for f, fn, c in _calls() if _name(c) in ("eval", "exec", "compile", "builtins.eval",
                                                              "builtins.exec", "__import__")}
    assert found <= EXEC_ALLOWED, found - EXEC_ALLOWED


def test_yaml_is_read_with_the_safe_loader_only() -> None:
    from hynas.space.yamlio import _GuardedLoader

    assert issubclass(_GuardedLoader, yaml.SafeLoader)
    for f, fn, c in _calls():
        n = _name(c)
        assert n not in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all"), (f, fn)
        if n == "yaml.load":
            loader = next((k.value for k in c.keywords if k.arg == "Loader"), None)
            assert isinstance(loader, ast.Name) and loader.id == "_GuardedLoader", (f, fn)


def test_weights_and_arrays_load_without_pickle() -> None:
    for f, fn, c in _calls():
        n = _name(c)
        if n == "torch.load":
            assert _kw(c, "weights_only") is True, f"{f}:{fn} calls torch.load without weights_only=True"
        if n == "np.load":
            assert _kw(c, "allow_pickle") is False, f"{f}:{fn} calls np.load without allow_pickle=False"
        assert n not in ("pickle.load", "pickle.loads", "joblib.load", "dill.load", "marshal.loads"), (f, fn)


def test_the_restricted_unpickler_refuses_code() -> None:
    """CIFAR batches are pickles: the one unpickler in the package refuses every global but arrays."""
    from hynas.proxy.formats import SafeUnpickler

    class Evil:
        def __reduce__(self) -> Any:
            import os
            return (os.system, ("touch /tmp/hynas_pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        SafeUnpickler(io.BytesIO(pickle.dumps({b"data": Evil()})), encoding="bytes").load()


def test_predictor_files_are_json_never_pickles(tmp_path: Path) -> None:
    from hynas.errors import UserError
    from hynas.latency.predictor import Predictor

    shipped = [p for d in (PKG.parent / "predictors", PKG / "predictors") if d.is_dir() for p in d.iterdir()]
    for p in shipped:
        assert p.suffix == ".json", p
        json.loads(p.read_text(encoding="utf-8"))
    evil = tmp_path / "ort-cpu.json"
    evil.write_bytes(pickle.dumps({"target": {}}))
    with pytest.raises(UserError, match="cannot read latency predictor"):
        Predictor.load(evil)


@pytest.mark.parametrize("edit, where", [
    (lambda d: d["stages"][0].update(name=INJECT), "stages[0].name"),
    (lambda d: d["stages"][0]["blocks"].update({INJECT: {}}), "stages[0].blocks"),
    (lambda d: d["stages"][2]["blocks"]["mhsa"].update(head_dim=[INJECT]), "stages[2].blocks.mhsa.head_dim"),
    (lambda d: d["head"].__class__ is str and d.update(head={"pool_linear": {"norm": INJECT}}), "head.pool_linear"),
    (lambda d: d.update(name={"x": INJECT}), "name"),
])
def test_injecting_names_in_a_space_is_refused(edit: Any, where: str, tmp_path: Path) -> None:
    from hynas.space import shipped_spaces

    doc = yaml.safe_load(shipped_spaces()["default"].read_text())
    edit(doc)
    path = tmp_path / "inject.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as info:
        load_space(path)
    assert info.value.path and info.value.path.startswith(where)


def _arch() -> dict:
    return sample(load_space("default"), random.Random(0)).to_dict()


@pytest.mark.parametrize("edit", [
    lambda d: d["stages"][0]["blocks"][0].update(type=INJECT),
    lambda d: d["stem"].update(type=INJECT),
    lambda d: d["stages"][0].update(name=INJECT),
    lambda d: d["head"]["knobs"].update(norm=INJECT),
    lambda d: d["stages"][0]["blocks"][0]["knobs"].update({INJECT: 1}),
    lambda d: d["stages"][0]["blocks"][0].update(out=INJECT),
    lambda d: d["input"].update(classes=INJECT),
])
def test_injecting_names_in_an_arch_is_refused_before_codegen(edit: Any) -> None:
    from hynas.export.codegen import generate_source

    d = _arch()
    edit(d)
    arch = Arch(d)
    with pytest.raises(ArchError):
        validate_arch(arch)
    with pytest.raises(ArchError):
        generate_source(arch)


def _top_level(source: str) -> list[str]:
    tree = ast.parse(source)
    kinds = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kinds.extend(f"import {a.name if isinstance(node, ast.Import) else node.module}" for a in node.names)
        else:
            kinds.append(type(node).__name__)
    return kinds


def test_generated_code_imports_only_torch_and_math() -> None:
    from hynas.export.codegen import generate_source

    src = generate_source(Arch(_arch()))
    imports = {k.split()[1] for k in _top_level(src) if k.startswith("import ")}
    assert imports <= {"__future__", "torch", "torch.nn", "torch.nn.functional", "math", "typing",
                       "collections.abc"}, imports
    assert "Expr" in _top_level(src)[:1] and "os" not in src.split("import")


def test_export_title_cannot_close_the_docstring() -> None:
    """The export title is built from the run directory path: triple quotes in it must stay text."""
    from hynas.export.codegen import generate_source

    title = 'Trial 0 of the hynas run runs/x"""\nimport os\nos.system("touch /tmp/hynas_pwned")\n"""'
    kinds = _top_level(generate_source(Arch(_arch()), title=title))
    assert "import os" not in kinds
