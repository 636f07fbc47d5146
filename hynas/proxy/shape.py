"""Global-shape sensitivity of a trained candidate, after DiST.

DiST (Disrupted Structure Testbench; Wen, Li, Jing & Lee, "Does resistance to
style-transfer equal Global Shape Bias?", arXiv 2310.07555) pairs each of 2,400 ImageNet
images with two copies whose global shape is disrupted while a texture-synthesis program
keeps the local texture, and asks the model for the odd one out. It found that models
that do well on style-transfer cue-conflict images do not do well on DiST, and that
supervised ViTs have no significant advantage over CNNs there. Whether a conv + attention
layout uses global configuration is a design-space question, so hynas measures it here.

We have no texture-synthesis program and no ImageNet, so the disrupted copies are made
deterministically with torch from held-out images:

- ``patchN``: the image cut into an N x N grid, patches moved by a random cycle (no patch
  stays in place). Local texture is kept exactly; the configuration is destroyed; hard
  seams appear where patches meet.
- ``blendN``: the same shuffle, but each patch is taken with a margin and feathered into
  its neighbours (linear ramps summing to one), so no artificial edge marks the seams.
  DiST's synthesized copies have no seams either; comparing ``patchN`` with ``blendN``
  tells a drop caused by lost configuration from one caused by new edges.

The score is accuracy on the originals minus accuracy on the disrupted copies, per level
(higher = more sensitive to global shape); ``shape_sensitivity`` is the mean over levels.
It scales with accuracy (a model at chance drops nothing), so read it beside accuracy.

It needs a trained model: it is registered in ``TRAINED_SCORES``, the post-training
scorers a search runs right after ``train_proxy`` on the same model and data
(``score_trained``), at the cost of a few held-out forward passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hynas.errors import UserError
from hynas.proxy.data import Dataset
from hynas.proxy.int8 import accuracy_int8
from hynas.proxy.trainer import evaluate
from hynas.registry import Registry

TrainedScore = Callable[..., dict[str, float]]
TRAINED_SCORES: Registry[TrainedScore] = Registry("post-training score")
DEFAULT_LEVELS = ("patch2", "patch4", "patch8", "blend4", "blend8")
MAX_EVAL_IMAGES = 1000


def cyclic_permutations(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """(n, k) permutations, each a single random k-cycle (Sattolo): no index maps to itself."""
    order = torch.argsort(torch.rand(n, k, generator=gen), dim=1)
    perm = torch.empty_like(order)
    perm.scatter_(1, order, order.roll(-1, dims=1))
    return perm


def _check_grid(x: torch.Tensor, grid: int) -> int:
    h, w = x.shape[-2:]
    if grid < 2 or h % grid or w % grid or h != w:
        raise UserError(f"a {grid}x{grid} patch grid needs a square image whose side it divides; got {h}x{w}.")
    return h // grid


def patch_shuffle(x: torch.Tensor, grid: int, gen: torch.Generator, perm: torch.Tensor | None = None) -> torch.Tensor:
    """Each image's grid x grid patches moved by its own random cycle (hard seams).

    ``perm`` (n, grid*grid): target patch t receives source patch perm[:, t] (default: random cycles).
    """
    n, c = x.shape[:2]
    p = _check_grid(x, grid)
    patches = x.unfold(2, p, p).unfold(3, p, p).reshape(n, c, grid * grid, p, p)
    perm = cyclic_permutations(n, grid * grid, gen) if perm is None else perm
    src = perm[:, None, :, None, None].expand(-1, c, -1, p, p)
    moved = torch.gather(patches, 2, src).reshape(n, c, grid, grid, p, p)
    return moved.permute(0, 1, 2, 4, 3, 5).reshape(n, c, grid * p, grid * p)


def _feather(p: int, margin: int) -> torch.Tensor:
    """1-D window of length p + 2*margin: ramps over 2*margin pixels, flat in the middle.

    Shifted copies at stride p sum to one inside the image, so blending keeps intensities.
    """
    ramp = (torch.arange(2 * margin, dtype=torch.float32) + 0.5) / (2 * margin)
    return torch.cat([ramp, torch.ones(p - 2 * margin), ramp.flip(0)])


def blended_shuffle(x: torch.Tensor, grid: int, gen: torch.Generator, margin: int | None = None,
                    perm: torch.Tensor | None = None) -> torch.Tensor:
    """Patch shuffle whose patches carry a margin (default a quarter patch) feathered into their neighbours."""
    n, c = x.shape[:2]
    p = _check_grid(x, grid)
    m = max(1, p // 4) if margin is None else margin
    if not 0 < 2 * m <= p:
        raise UserError(f"blend margin must be between 1 and {p // 2} px for {p}-px patches, got {m}.")
    big = p + 2 * m
    xp = F.pad(x, (m, m, m, m), mode="reflect")
    patches = xp.unfold(2, big, p).unfold(3, big, p).reshape(n, c, grid * grid, big, big)
    perm = cyclic_permutations(n, grid * grid, gen) if perm is None else perm
    moved = torch.gather(patches, 2, perm[:, None, :, None, None].expand(-1, c, -1, big, big))
    win = _feather(p, m)
    win2d = win[:, None] * win[None, :]
    cols = (moved * win2d).permute(0, 1, 3, 4, 2).reshape(n, c * big * big, grid * grid)
    side = grid * p + 2 * m
    out = F.fold(cols, (side, side), kernel_size=big, stride=p)
    norm = F.fold(win2d.reshape(1, big * big, 1).expand(1, -1, grid * grid), (side, side), kernel_size=big, stride=p)
    return (out / norm.clamp_min(1e-6))[..., m:m + grid * p, m:m + grid * p]


_DISRUPTIONS: dict[str, Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]] = {
    "patch": patch_shuffle, "blend": blended_shuffle}


def parse_level(name: str) -> tuple[str, int]:
    """``patch4`` -> ("patch", 4); a clear error naming the allowed forms otherwise."""
    for kind in _DISRUPTIONS:
        if name.startswith(kind) and name[len(kind):].isdigit() and int(name[len(kind):]) >= 2:
            return kind, int(name[len(kind):])
    raise UserError(f"unknown disruption level '{name}'. Allowed: patchN or blendN (N = grid size, 2 or more), "
                    f"e.g. {', '.join(DEFAULT_LEVELS)}.")


def allowed_sizes(levels: Sequence[str] = DEFAULT_LEVELS) -> tuple[int, int]:
    """(step, smallest): the square sizes every level can cut are the multiples of ``step`` from ``smallest``.

    Every grid must divide the side; a ``blendN`` patch needs at least 2 px (a 1-px margin each side).
    """
    parsed = [parse_level(lv) for lv in levels]
    step = math.lcm(*(g for _, g in parsed)) if parsed else 1
    least = max((g * (2 if kind == "blend" else 1) for kind, g in parsed), default=1)
    return step, -(-least // step) * step


def check_size(size: int, where: str, levels: Sequence[str] = DEFAULT_LEVELS) -> None:
    """Refuse a side the disruption grids cannot cut, naming ``where`` it came from and the sizes allowed.

    Called before a search writes anything: otherwise every candidate would train in full and
    then fail at the first grid that does not divide its images.
    """
    step, least = allowed_sizes(levels)
    if size % step == 0 and size >= least:
        return
    near = sorted({max(least, size // step * step), max(least, -(-size // step) * step)})
    raise UserError(f"{where}: shape_sensitivity cuts the images the model is trained on into the patch grids of "
                    f"{', '.join(levels)}, so that size must be a multiple of {step} and at least {least} "
                    f"({', '.join(map(str, range(least, least + 3 * step, step)))}, ...); got {size}. "
                    f"Nearest allowed: {' or '.join(map(str, near))}.")


def check_train_size(names: Sequence[str], recipe: Any, native: int | None, dataset: str) -> None:
    """A search asking for ``shape_sensitivity`` trains at a size its grids cut; else UserError naming the flag."""
    if "shape_sensitivity" not in names or native is None:
        return
    size = recipe.train_size(native)
    if recipe.proxy_resolution:
        where = f"--proxy-resolution {size}"
    elif recipe.resolution:
        where = f"--resolution {size}"
    else:
        where = f"--dataset {dataset} (native size {size} px; set another with --resolution)"
    check_size(size, where)


def disrupt(x: torch.Tensor, level: str, seed: int = 0) -> torch.Tensor:
    """A disrupted copy of a batch at ``level``; the same seed gives the same copy."""
    kind, grid = parse_level(level)
    return _DISRUPTIONS[kind](x, grid, torch.Generator().manual_seed(seed))


@dataclass
class ShapeReport:
    accuracy_original: float
    accuracy: dict[str, float] = field(default_factory=dict)  # level -> accuracy on the disrupted copies
    images: int = 0

    @property
    def drop(self) -> dict[str, float]:
        """Per level: accuracy on originals minus on disrupted copies (higher = more shape-sensitive)."""
        return {k: self.accuracy_original - v for k, v in self.accuracy.items()}

    @property
    def sensitivity(self) -> float:
        d = self.drop
        return sum(d.values()) / len(d) if d else 0.0

    def as_values(self) -> dict[str, float]:
        """Flat metrics: ``shape_sensitivity`` plus ``shape_drop_<level>`` and the original accuracy."""
        out = {"shape_sensitivity": self.sensitivity, "shape_accuracy_original": self.accuracy_original}
        out.update({f"shape_drop_{k}": v for k, v in self.drop.items()})
        return out


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, levels: Sequence[str] = DEFAULT_LEVELS,
            seed: int = 0, resolution: int | None = None) -> ShapeReport:
    """Accuracy of ``model`` on ``x`` and on each disrupted copy (disrupted at the data's own size)."""
    h, w = x.shape[-2:]
    if h != w:
        raise UserError(f"shape disruptions need square images; got {h}x{w}.")
    check_size(h, "the held-out images", levels)  # before any forward pass, not at the first grid that fails
    rep = ShapeReport(accuracy_original=evaluate(model, x, y, resolution=resolution), images=len(y))
    for i, lv in enumerate(levels):
        rep.accuracy[lv] = evaluate(model, disrupt(x, lv, seed + i), y, resolution=resolution)
    return rep


def held_out(data: Dataset, limit: int, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` held-out images at ``size`` (what the trainer evaluates on), as tensors."""
    size = size or data.resolution
    if hasattr(data, "eval_batches"):
        parts = list(data.eval_batches(size, limit=limit))
        return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])
    x, y = data.val_x[:limit], data.val_y[:limit]
    return (x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear")), y


@TRAINED_SCORES.decorator("shape_sensitivity")
def shape_sensitivity(model: nn.Module, data: Dataset, *, seed: int = 0, resolution: int | None = None,
                      levels: Sequence[str] = DEFAULT_LEVELS, max_images: int = MAX_EVAL_IMAGES,
                      **_: Any) -> dict[str, float]:
    """Held-out accuracy minus accuracy on patch-shuffled / seam-blended copies (mean over levels).

    Images are disrupted at the resolution the model was trained at (``resolution``, default
    the data's), so the patch grid is the one the model sees.
    """
    x, y = held_out(data, max_images, resolution)
    return measure(model, x, y, levels=levels, seed=seed).as_values()


def score_trained(names: Sequence[str], model: nn.Module, data: Dataset, *, seed: int = 0,
                  resolution: int | None = None, **context: Any) -> dict[str, Any]:
    """Run the named post-training scorers on a trained model; one flat dict of their metrics.

    ``context`` (the candidate's ``arch``, the search's settings such as ``int8_keep_bridges``) is
    passed to every scorer; each reads what it needs.
    """
    out: dict[str, Any] = {}
    for name in names:
        out.update(TRAINED_SCORES.get(name)(model, data, seed=seed, resolution=resolution, **context))
    return out


def layout_features(arch_dict: dict) -> dict[str, float]:
    """Where attention sits in a layout: share of body blocks that attend, and the first stage that does.

    ``attention_start`` is the 1-based index of the first stage with an attention block
    (number of stages + 1 for a pure conv stack), so "attention late" reads as a large value.
    A block attends when its type does or when its ``attn`` knob switches attention on
    (EfficientFormerV2's FFN blocks with ``attn: true``).
    """
    from hynas.blocks import block_class

    n_blocks, n_attn, start = 0, 0, len(arch_dict["stages"]) + 1
    for si, st in enumerate(arch_dict["stages"], start=1):
        for b in st["blocks"]:
            n_blocks += 1
            if block_class(b["type"]).block_info.attention or b.get("knobs", {}).get("attn") is True:
                n_attn += 1
                start = min(start, si)
    return {"attention_share": n_attn / max(1, n_blocks), "attention_start": float(start)}


TRAINED_SCORES.register("accuracy_int8", accuracy_int8)
