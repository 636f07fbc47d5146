"""Re-parameterisation: fused networks compute what the trained branches computed, with the MACs counted."""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from hynas.blocks.reparam import RepGroupConv1x1, fuse_for_inference
from hynas.build import build_model
from hynas.cost import count_macs
from hynas.space.arch import Arch


def _trained(module: nn.Module, x: torch.Tensor, steps: int = 3) -> nn.Module:
    """A few real SGD steps so weights and BatchNorm statistics are no longer at their initial values."""
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    module.train()
    for _ in range(steps):
        opt.zero_grad()
        module(x).square().mean().backward()
        opt.step()
    return module.eval()


def test_multi_group_conv_fuses_to_one_dense_conv() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5)
    conv = _trained(RepGroupConv1x1(8, 12, (1, 2, 4)), x)
    assert conv.groups == (1, 2, 4)
    with torch.no_grad():
        before = conv(x)
        conv.reparameterize()
        after = conv(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    assert isinstance(conv.fused, nn.Conv2d) and len(conv.branches) == 0
    assert RepGroupConv1x1(6, 9, (1, 2, 4)).groups == (1,)  # 2 and 4 do not divide both widths


def _fmvit_arch() -> Arch:
    cfb = {"head_dim": 16, "mlp_ratio": 2, "rep_groups": 4, "act": "relu"}
    fmb = {"head_dim": 16, "mlp_ratio": 2, "low_branches": 2, "pool": 2, "rep_groups": 4, "act": "gelu"}
    return Arch({"input": {"channels": 3, "resolution": 32, "classes": 10},
                 "stem": {"type": "conv_stem", "out": 16,
                          "knobs": {"kernel": 3, "reduction": 2, "layers": 1, "act": "relu"}},
                 "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}},
                             "blocks": [{"type": "fmvit_cfb", "out": 32, "knobs": cfb},
                                        {"type": "fmvit_fmb", "out": 32, "knobs": fmb},
                                        {"type": "fmvit_fmb", "out": 48, "knobs": fmb}]}],
                 "head": {"type": "pool_linear", "knobs": {"norm": "none", "dropout": 0.0}}})


def test_fuse_for_inference_keeps_outputs_and_macs_of_a_network() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    model = _trained(build_model(_fmvit_arch()), x)
    with torch.no_grad():
        before = model(x)
    macs_before = count_macs(model, x[:1])
    assert fuse_for_inference(model) is model and not model.training
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)
    reps = [m for m in model.modules() if isinstance(m, RepGroupConv1x1)]
    assert len(reps) == 8 and all(m.fused is not None and len(m.branches) == 0 for m in reps)
    # traced MACs were already those of the deployed form, and fusing twice changes nothing
    assert count_macs(model, x[:1]) == macs_before
    fuse_for_inference(model)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:1],), buf, dynamo=False, opset_version=17)
    assert buf.getbuffer().nbytes > 0


def test_fuse_for_inference_leaves_plain_networks_alone() -> None:
    arch = _fmvit_arch().to_dict()
    arch["stages"][0]["blocks"] = [{"type": "mbconv", "out": 16, "knobs": {"expansion": 2, "kernel": 3, "se": False,
                                                                           "se_ratio": 0.25, "act": "gelu"}}]
    model = build_model(Arch(arch))
    keys = list(model.state_dict())
    assert list(fuse_for_inference(model).state_dict()) == keys
