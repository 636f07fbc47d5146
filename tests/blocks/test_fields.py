"""Feature-field inputs: the schema in the DSL, the field stem under the block contract, a token net end to end."""

from __future__ import annotations

import io
import random
import warnings

import numpy as np
import pytest
import torch

from hynas.blocks import block_class
from hynas.build import block_plan, build_model
from hynas.cost import count_macs
from hynas.errors import SpecError
from hynas.export import generate_source, load_generated
from hynas.space.loader import parse_space
from hynas.space.sampling import contains, sample

FIELDS = [{"name": "user", "vocab": 50}, {"name": "price", "dense": 3}, {"name": "item", "vocab": 20}]


def _space(fields=None, stem="field_embed") -> dict:
    return {"input": {"fields": FIELDS if fields is None else fields, "classes": 2},
            "stem": {"width": [16, 32], "blocks": stem},
            "stages": [{"width": [16, 32], "depth": [1, 2], "blocks": {"mhsa1d": {"head_dim": 8, "cpe": False}}}],
            "head": "pool_linear"}


def _table(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randint(0, 50, (n, 1), generator=g).float(), torch.randn(n, 3, generator=g),
                      torch.randint(0, 20, (n, 1), generator=g).float()], 1)


def test_fields_input_is_a_token_sequence() -> None:
    sp = parse_space(_space())
    assert (sp.input.dims, sp.input.channels, sp.input.resolution) == (1, 5, 3)
    arch = sample(sp, random.Random(0))
    assert arch.input_shape(4) == (4, 5) and contains(sp, arch)
    stem = block_plan(arch)[0]
    assert stem.shape(2) == (2, 5) and stem.h == 3
    x = _table(4)
    net = build_model(arch).eval()
    clone = load_generated(generate_source(arch)).build().eval()
    clone.load_state_dict(net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(clone(x), net(x))
        assert net(x).shape == (4, 2)


def test_field_stem_contract() -> None:
    """Backward reaches every table; MACs equal the traced count; ONNX export runs under onnxruntime."""
    import onnxruntime as ort

    cls = block_class("field_embed")
    schema = [["user", "cat", 50], ["price", "dense", 3], ["item", "cat", 20]]
    for norm in (False, True):
        m = cls(5, 32, fields=schema, norm=norm)
        x = _table(8)
        m(x).sum().backward()
        assert all(p.grad is not None for p in m.parameters())
        assert count_macs(m.eval(), x[:1]) == cls.macs(5, 32, 1, 3, 1, fields=schema) == 3 * 32
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (x[:2],), buf, dynamo=False, opset_version=17, input_names=["input"])
        got = ort.InferenceSession(buf.getvalue()).run(None, {"input": x[:2].numpy()})[0]
        with torch.no_grad():
            np.testing.assert_allclose(got, m(x[:2]).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("space", "field", "says"), [
    (_space(stem="conv1d_stem"), "stem.blocks.conv1d_stem", "does not embed feature fields"),
    (_space(fields=[{"name": "a", "vocab": 5}, {"name": "a", "dense": 1}]), "input.fields[1].name", "twice"),
    (_space(fields=[{"name": "a", "vocab": 5, "dense": 2}]), "input.fields[0]", "categorical (vocab"),
    (_space(fields=[{"name": "a", "vocab": 1 << 25}]), "input.fields[0].vocab", "out of range"),
    (_space(fields=[{"name": "Bad-Name", "vocab": 5}]), "input.fields[0].name", "not a valid field name"),
    (_space(fields=[]), "input.fields", "1..256 fields"),
])
def test_bad_field_schemas_are_refused(space, field, says) -> None:
    with pytest.raises(SpecError) as e:
        parse_space(space)
    assert field in str(e.value) and says in str(e.value)


def test_field_stem_on_a_signal_is_refused() -> None:
    d = {"input": {"dims": 1, "channels": 2, "length": 16, "classes": 2}, "stem": {"width": 16, "blocks": "field_embed"},
         "stages": [{"width": 16, "depth": 1, "blocks": "mbconv1d"}], "head": "pool_linear"}
    with pytest.raises(SpecError, match="embeds feature fields, but this input has none"):
        parse_space(d)
