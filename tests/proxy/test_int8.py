"""Int8 accuracy (Q-HyViT): a trained tiny hybrid quantized as ort-cpu-int8 deploys it, scored in onnxruntime."""

from __future__ import annotations

import functools

import pytest
import torch

from hynas.blocks import BLOCKS
from hynas.errors import CandidateError
from hynas.space.arch import Arch

RES = 16  # digits (32 px) trained and scored at 16 px: the same pipeline, a quarter of the work


def _knobs(name: str, **over: object) -> dict:
    return {k: v.default for k, v in BLOCKS.get(name).block_info.knobs.items()} | over


def _arch() -> Arch:
    """conv stem, conv stage, then a stage that switches to attention (its MobileViT block is the bridge)."""
    block = lambda t, out, **kw: {"type": t, "out": out, "knobs": _knobs(t, **kw)}
    return Arch({"input": {"channels": 1, "resolution": RES, "classes": 10},
                 "stem": {"type": "conv_stem", "out": 16, "knobs": _knobs("conv_stem", act="silu")},
                 "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}}, "blocks": [block("mnv2", 16)]},
                            {"name": "s2", "downsample": {"type": "block", "knobs": {}},
                             "blocks": [block("mnv2", 32), block("mobilevit", 32, attn_ratio=1.0, depth=1)]}],
                 "head": {"type": "pool_linear", "knobs": _knobs("pool_linear")}})


@functools.lru_cache(maxsize=1)
def _trained() -> tuple[torch.nn.Module, object]:
    from hynas.build import build_model
    from hynas.proxy.data import load_dataset
    from hynas.proxy.recipe import TrainRecipe
    from hynas.proxy.trainer import train_proxy

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(_arch())
    result = train_proxy(model, data, steps=80, batch_size=64, lr=5e-3, seed=0, recipe=TrainRecipe(resolution=RES))
    assert result.val_accuracy > 0.5  # a trained model, far above chance (0.1)
    return model, data


def test_block_refs_tag_the_bridge() -> None:
    from hynas.proxy.int8 import block_refs

    refs = block_refs(_arch())
    assert [r.label for r in refs] == ["s1.b0.mnv2", "s2.b0.mnv2", "s2.b1.mobilevit"]
    assert [r.label for r in refs if r.bridge] == ["s2.b1.mobilevit"]
    assert refs[2].prefix == "/stages.1/stages.1.1/"
    from hynas.space import fixed_arch, load_space

    v2 = block_refs(fixed_arch(load_space("search_spaces/reference/efficientformerv2_s1.yaml")))
    assert [r.label for r in v2 if r.bridge] == ["s3.b7.efficientformer_v2", "s4.b4.efficientformer_v2"]


def test_int8_accuracy_of_a_trained_hybrid() -> None:
    from hynas.proxy.int8 import int8_accuracy

    model, data = _trained()
    res = int8_accuracy(model, _arch(), data, batch=50, calibration_images=64, max_eval=300, sensitivity=True)
    assert res.evaluated_images == 300 and res.calibration_images == 64
    assert res.fp32_accuracy > 0.5
    assert abs(res.drop) < 0.1, res.as_dict()  # 8-bit static PTQ of a small CNN-attention hybrid stays close
    assert res.bridges == ["s2.b1.mobilevit"] and res.keep_bridges_accuracy is not None
    assert set(res.keep_one) == {"s1.b0.mnv2", "s2.b0.mnv2", "s2.b1.mobilevit"}
    assert set(res.only_type) == {"mnv2", "mobilevit"}
    assert all(0.0 <= v <= 1.0 for v in [*res.keep_one.values(), *res.only_type.values()])
    from hynas.proxy.augment import resize_center

    with torch.no_grad():  # onnxruntime's fp32 score is the torch model's
        logits = model.eval()(resize_center(data.val_x[:300], RES))
    assert abs(res.fp32_accuracy - (logits.argmax(1) == data.val_y[:300]).float().mean().item()) <= 0.004


def test_excluded_blocks_stay_fp32() -> None:
    """Keeping a block in fp32 leaves its weights in fp32 (no int8 initializer dequantized into its nodes)."""
    import onnx

    from hynas.latency.onnx_io import export_bytes
    from hynas.proxy.augment import resize_center
    from hynas.proxy.int8 import _nodes, _nodes_of, block_refs, quantize_calibrated

    model, data = _trained()
    fp32 = export_bytes(model.eval(), (8, 1, RES, RES))
    calib = [resize_center(data.train_x[:8], RES).numpy()]
    refs = block_refs(_arch())
    kept = _nodes_of(_nodes(fp32), [refs[2]])
    assert kept

    def quantized_inputs(model_bytes: bytes) -> int:
        g = onnx.load_from_string(model_bytes).graph
        weights = {t.name for t in g.initializer}
        dq = {o for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in weights for o in n.output}
        return sum(1 for n in g.node if n.name.startswith(refs[2].prefix) and any(i in dq for i in n.input))

    assert quantized_inputs(quantize_calibrated(fp32, calib)) > 0
    assert quantized_inputs(quantize_calibrated(fp32, calib, exclude=kept)) == 0


def test_a_failed_conversion_is_the_candidates_failure() -> None:
    from hynas.proxy.int8 import quantize_calibrated

    with pytest.raises(CandidateError, match="int8 quantization failed"):
        quantize_calibrated(b"not an onnx model", [])
