"""Shape sensitivity (DiST-style disruptions) and the generated ``shapes`` dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hynas.errors import UserError
from hynas.proxy import shape as S
from hynas.proxy.data import Dataset, load_dataset
from hynas.proxy.shapes_data import CELL_PX, GRID, SHAPES, shape_masks, shapes_arrays
from hynas.proxy.trainer import train_proxy


def _x(n: int = 4, c: int = 2, side: int = 32) -> torch.Tensor:
    return torch.randn(n, c, side, side, generator=torch.Generator().manual_seed(1))


def test_cyclic_permutations_move_every_patch() -> None:
    perm = S.cyclic_permutations(500, 4, torch.Generator().manual_seed(0))
    assert torch.equal(perm.sort(1).values, torch.arange(4).expand(500, 4))
    assert not (perm == torch.arange(4)).any()


@pytest.mark.parametrize("grid", [2, 4, 8])
def test_patch_shuffle_keeps_pixels_and_moves_patches(grid: int) -> None:
    x = _x()
    y = S.patch_shuffle(x, grid, torch.Generator().manual_seed(0))
    assert torch.equal(x.flatten(1).sort(1).values, y.flatten(1).sort(1).values)
    p = 32 // grid
    assert not torch.equal(x[..., :p, :p], y[..., :p, :p])  # the top-left patch was replaced
    assert torch.equal(y, S.patch_shuffle(x, grid, torch.Generator().manual_seed(0)))  # deterministic
    assert not torch.equal(y, S.patch_shuffle(x, grid, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("fn", [S.patch_shuffle, S.blended_shuffle])
def test_identity_permutation_gives_back_the_image(fn) -> None:
    x = _x()
    ident = torch.arange(16).expand(len(x), 16)
    assert torch.allclose(fn(x, 4, torch.Generator(), perm=ident), x, atol=1e-5)


def test_blend_has_softer_seams_than_hard_shuffle() -> None:
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # smooth image: seams stand out
    gen = lambda: torch.Generator().manual_seed(0)
    hard, soft = S.patch_shuffle(x, 4, gen()), S.blended_shuffle(x, 4, gen())
    seam = lambda im: (im[..., :, 7] - im[..., :, 8]).abs().mean()  # across the first vertical seam
    assert seam(soft) < 0.6 * seam(hard)
    assert abs(float(soft.mean() - x.mean())) < 0.02


def test_bad_levels_and_grids_are_user_errors() -> None:
    with pytest.raises(UserError, match="patchN or blendN"):
        S.parse_level("swirl3")
    with pytest.raises(UserError, match="divides"):
        S.disrupt(_x(side=30), "patch4")


def test_allowed_sizes_are_what_every_level_can_cut() -> None:
    assert S.allowed_sizes() == (8, 16)  # blend8 needs 2-px patches
    assert S.allowed_sizes(["patch2", "patch4"]) == (4, 4) and S.allowed_sizes(["patch3", "blend4"]) == (12, 12)
    for side in (16, 24, 40):  # every allowed size runs every level
        assert all(S.disrupt(_x(side=side), lv).shape == (4, 2, side, side) for lv in S.DEFAULT_LEVELS)
    with pytest.raises(UserError, match="2 or more"):
        S.parse_level("patch1")
    with pytest.raises(UserError, match=r"--resolution 36: .*multiple of 8 and at least 16.*Nearest allowed: 32 or 40"):
        S.check_size(36, "--resolution 36")


def test_measure_refuses_a_size_before_any_forward_pass() -> None:
    calls = []
    net = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
    net.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(UserError, match="held-out images.*got 36"):
        S.measure(net, _x(side=36, c=1), torch.zeros(4, dtype=torch.long))
    assert not calls


def test_shapes_dataset_equalizes_local_content() -> None:
    assert shape_masks().sum(axis=(1, 2)).tolist() == [12] * len(SHAPES)
    images, labels = shapes_arrays()
    cells = images.reshape(-1, GRID, CELL_PX, GRID, CELL_PX).mean(axis=(2, 4))
    bright = (cells > 0.5).sum(axis=(1, 2))
    per_class = [float(bright[labels == k].mean()) for k in range(len(SHAPES))]
    assert max(per_class) - min(per_class) < 0.5  # every class: the same number of figure cells
    d = load_dataset("shapes")
    assert (len(d.train_y), len(d.val_y), d.classes, d.channels, d.resolution) == (4000, 1000, 10, 1, 32)


class _BagOfCells(nn.Module):
    """Sees each 4x4 cell alone and averages: blind to where cells are."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.Conv2d(1, 32, CELL_PX, stride=CELL_PX)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.cell(x)).mean((2, 3)))


class _Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _small(d: Dataset, n_train: int = 2000) -> Dataset:
    return Dataset(d.name, d.train_x[:n_train], d.train_y[:n_train], d.val_x[:400], d.val_y[:400], d.classes)


def test_trained_scores_separate_configuration_from_bag_of_cells() -> None:
    """A conv net that learnt the shapes loses them when cells are shuffled; a bag of cells cannot."""
    data = _small(load_dataset("shapes"))
    torch.manual_seed(0)
    conv = _Conv()
    res = train_proxy(conv, data, steps=150, batch_size=64, seed=0)
    assert res.val_accuracy > 0.6
    rep = S.score_trained(["shape_sensitivity"], conv, data, seed=0)
    assert rep["shape_accuracy_original"] == pytest.approx(res.val_accuracy)
    assert rep["shape_drop_patch8"] > 0.4 and rep["shape_sensitivity"] > 0.3
    torch.manual_seed(0)
    bag = _BagOfCells()
    train_proxy(bag, data, steps=60, batch_size=64, seed=0)
    bag_rep = S.shape_sensitivity(bag, data, levels=("patch8", "patch4"))
    assert abs(bag_rep["shape_drop_patch8"]) < 1e-9 and abs(bag_rep["shape_drop_patch4"]) < 1e-9
    assert S.score_trained(["shape_sensitivity"], conv, data, seed=0) == rep  # deterministic


def test_unknown_trained_score_names_the_known_ones() -> None:
    with pytest.raises(UserError, match="shape_sensitivity"):
        S.score_trained(["shape_bias"], _BagOfCells(), _small(load_dataset("shapes")))


def test_layout_features_read_attention_from_the_block_registry() -> None:
    def arch(types: list[list[str]]) -> dict:
        return {"stages": [{"blocks": [{"type": t} for t in st]} for st in types]}

    assert S.layout_features(arch([["mbconv"], ["mbconv", "mbconv"]])) == {"attention_share": 0.0,
                                                                           "attention_start": 3.0}
    f = S.layout_features(arch([["mbconv"], ["mbconv", "mhsa"], ["mhsa"]]))
    assert f == {"attention_share": 0.5, "attention_start": 2.0}
    assert np.isclose(S.layout_features(arch([["mhsa"]]))["attention_share"], 1.0)


def test_layout_features_count_blocks_whose_attn_knob_is_on() -> None:
    """EfficientFormerV2's FFN blocks attend when ``attn: true`` (its last blocks of stages 3 and 4)."""
    from hynas.results.landmarks import reference_dir
    from hynas.space import fixed_arch, load_space

    ff = {"type": "efficientformer_v2", "knobs": {"attn": False}}
    at = {"type": "efficientformer_v2", "knobs": {"attn": True}}
    f = S.layout_features({"stages": [{"blocks": [ff, ff]}, {"blocks": [ff, at]}]})
    assert f == {"attention_share": 0.25, "attention_start": 2.0}
    ref = fixed_arch(load_space(str(reference_dir() / "efficientformerv2_s1.yaml"))).to_dict()
    assert S.layout_features(ref)["attention_start"] == 3.0 and S.layout_features(ref)["attention_share"] > 0
