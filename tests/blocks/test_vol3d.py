"""3-D blocks beyond the registry-wide contract: PCT-Net's reference count, window refusals, shifted windows.

PCT-Net (MIS-FM, openmedlab/MIS-FM net/pct_net.py @ 1506d659) built by hynas must have exactly the
parameters the official module reaches in its default configuration (counted by constructing it;
see the header of search_spaces/reference/pctnet.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hynas.blocks.pct import PCTBlock
from hynas.blocks.vol3d import Swin3d, SwinBlock3d
from hynas.build import block_plan, build_model
from hynas.cost import analytic_macs, count_macs, count_params
from hynas.errors import ArchError
from hynas.space import fixed_arch, load_space
from hynas.space.arch import Arch

REF = Path(__file__).resolve().parents[2] / "search_spaces" / "reference"


def _pctnet() -> Arch:
    return fixed_arch(load_space(REF / "pctnet.yaml"))


def test_pctnet_params_equal_the_official_definition() -> None:
    model = build_model(_pctnet())
    assert count_params(model) == 44_729_041  # official PCTNet, parameters reached in resolution_mode 0
    # ConvTransBlock(128) less its unused LayerNorm (256): 1,292,954 - 256; DownSample(64, 128) 221,441
    assert count_params(model.stages[2]) == 221_441 + 1_292_698
    assert count_params(model.stem) == 896 and count_params(model.ups["5"]) == 1_049_857  # up4's BN/PReLU/ConvT
    assert model.joins == {5: (3, "concat"), 6: (2, "concat"), 7: (1, "concat"), 8: (0, "concat")}


@pytest.mark.slow
def test_pctnet_traced_macs_match_the_formulas() -> None:
    arch = _pctnet().with_input(resolution=48)  # windows of 6 tile 12 and cover 6 and 3
    traced = count_macs(build_model(arch).eval(), torch.zeros(arch.input_shape(1)))
    assert traced == analytic_macs(arch) == 39_428_868_096


def _swin_arch(res: int, window: int) -> Arch:
    return Arch({"input": {"dims": 3, "channels": 1, "resolution": res, "classes": 3},
                 "stem": {"type": "conv3d_stem", "out": 8, "knobs": {"reduction": 2}},
                 "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}},
                             "blocks": [{"type": "swin3d", "out": 16, "knobs": {"window": window, "head_dim": 8}}]}],
                 "head": {"type": "dense_head", "knobs": {"scale": 2}}})


def test_a_window_that_does_not_tile_the_cube_is_refused() -> None:
    with pytest.raises(ArchError, match=r"swin3d.*10x10x10 volume.*window 4 does not tile"):
        block_plan(_swin_arch(20, 4))
    assert Swin3d.check_map(12, 12, 1, window=4) is None and Swin3d.check_map(3, 3, 1, window=6) is None
    assert "does not tile" in PCTBlock.check_map(8, 8, 1, window=6)
    block_plan(_swin_arch(24, 4))


def test_a_cube_inside_one_window_is_attended_whole_and_counted_so() -> None:
    torch.manual_seed(0)
    block = Swin3d(8, 16, window=6, head_dim=8).eval()  # a 3^3 cube: one window, the table's corner
    x = torch.randn(1, 8, 3, 3, 3)
    assert block(x).shape == (1, 16, 3, 3, 3)
    assert count_macs(block, x) == Swin3d.macs(8, 16, 1, 3, 3, window=6, head_dim=8, dims=3)


def test_shifted_windows_keep_wrapped_voxels_apart() -> None:
    """Voxel (0,0,0) of an 8^3 cube in a shifted 4^3 window may see only voxels 0-1 on each axis: the window
    also holds voxels 6-7 rolled in from the far side, which the mask keeps out (as Swin's)."""
    torch.manual_seed(0)
    blk = SwinBlock3d(8, window=4, shift=True, head_dim=8).eval()
    x = torch.randn(1, 8, 8, 8, 8, requires_grad=True)
    blk(x)[0, 0, 0, 0].sum().backward()
    seen = x.grad[0].abs().sum(-1) > 1e-12
    want = torch.zeros(8, 8, 8, dtype=torch.bool)
    want[:2, :2, :2] = True
    assert torch.equal(seen, want)
    blk.shift = False  # unshifted, the same voxel sees its whole 4^3 window
    x.grad = None
    blk(x)[0, 0, 0, 0].sum().backward()
    assert int((x.grad[0].abs().sum(-1) > 1e-12).sum()) == 64
