"""Models by name, the way timm users expect: ``create_model("nextvit_s", num_classes=10)``.

A *reference model* is a fixed-architecture space shipped in ``search_spaces/reference/``
(one YAML per published hybrid); its name is the file's stem. The list is read from that
folder each time, so a reference added there is a model at once. A shipped search space
name together with an architecture (a JSON file a search wrote, an ``Arch`` or its dict)
builds that architecture after checking that the space can produce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hynas.errors import UserError
from hynas.resources import references_dir
from hynas.space.arch import Arch

if TYPE_CHECKING:
    from torch import nn

ArchLike = str | Path | Arch | dict[str, Any]


def list_models() -> list[str]:
    """Names of the shipped reference models, sorted."""
    return sorted(p.stem for p in references_dir().glob("*.yaml"))


def _unknown(name: str) -> UserError:
    from hynas.space import shipped_spaces

    return UserError(f"unknown model '{name}'. Reference models: {', '.join(list_models())}; "
                     f"or a shipped space ({', '.join(shipped_spaces())}) with arch=ARCH_JSON.")


def reference_arch(name: str) -> Arch:
    """The architecture of the reference model ``name`` (UserError listing the names if unknown)."""
    from hynas.space import fixed_arch, load_space

    path = references_dir() / f"{name}.yaml"
    if name not in list_models():
        raise _unknown(name)
    return fixed_arch(load_space(path))


def named_reference(ref: str) -> Arch | None:
    """The reference model named ``ref`` when ``ref`` is a bare name rather than a file.

    None for an existing path or a name with a file suffix (the caller reads the file);
    a UserError listing the reference models for a bare name that is none of them.
    """
    p = Path(ref)
    if p.exists() or p.suffix or any(c in ref for c in "/\\:"):  # a path or RUN_DIR:trialN
        return None
    if ref not in list_models():
        raise UserError(f"'{ref}' is neither a file nor a reference model. Reference models: "
                        f"{', '.join(list_models())} (or give an arch JSON / fixed space YAML path).")
    return reference_arch(ref)


def _read_arch(arch: ArchLike) -> Arch:
    if isinstance(arch, Arch):
        return arch
    if isinstance(arch, dict):
        return Arch(arch)
    p = Path(arch)
    if not p.is_file():
        raise UserError(f"arch {p}: file not found (expected an arch JSON file).")
    try:
        return Arch.from_json(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"arch {p}: not a JSON arch ({e}).") from None


def model_arch(name: str, arch: ArchLike | None = None) -> Arch:
    """A reference model's arch, or ``arch`` checked against the shipped space ``name``."""
    if arch is None:
        return reference_arch(name)
    from hynas.space import contains, load_space, shipped_spaces

    if name not in shipped_spaces():
        raise UserError(f"create_model('{name}', arch=...): '{name}' is not a shipped space. "
                        f"Allowed: {', '.join(shipped_spaces())}.")
    a = _read_arch(arch)
    if not contains(load_space(name), a):
        raise UserError(f"arch {a.hash} is not an architecture of the space '{name}' "
                        f"(its blocks, widths, input or rules do not match).")
    return a


def _count(value: int | None, what: str, limit: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise UserError(f"{what}={value!r}: expected an integer in 1..{limit}.")
    return value


def create_model(name: str, *, num_classes: int | None = None, in_chans: int | None = None,
                 arch: ArchLike | None = None) -> nn.Module:
    """Build a reference model (``list_models()``), or ``arch`` of the shipped space ``name``.

    ``num_classes`` replaces the classifier's output count and ``in_chans`` the stem's input
    channels; both default to the architecture's own. Weights are freshly initialized.
    """
    from hynas.build import build_model
    from hynas.space.loader import LIMITS

    classes = _count(num_classes, "num_classes", LIMITS["classes"])
    channels = _count(in_chans, "in_chans", LIMITS["channels"])
    base = model_arch(name, arch)
    if channels is not None and "fields" in base.input:
        raise UserError(f"in_chans: {name} takes feature fields; its columns come from its input.fields, "
                        "so in_chans does not apply.")
    return build_model(base.with_input(classes=classes, channels=channels))


@dataclass(frozen=True)
class ModelCost:
    """A reference model's size, counted from the built network at its own input size."""

    name: str
    resolution: int
    params: int
    macs: int
    summary: str


def model_costs(names: list[str] | None = None) -> list[ModelCost]:
    """Params and traced MACs of each reference model (all of them by default), counted now."""
    from hynas.cost import arch_cost

    rows = []
    for name in names if names is not None else list_models():
        a = reference_arch(name)
        c = arch_cost(a, memory=False)
        rows.append(ModelCost(name, a.input["resolution"], c.params, c.macs, a.summary()))
    return rows

