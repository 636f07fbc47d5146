"""T-TAME explanations of exported models: real training on small digits, metrics, CLI and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hynas.build import build_model
from hynas.cli import main
from hynas.explain.features import as_map, default_layers
from hynas.explain.gradcam import gradcam
from hynas.explain.load import check_data, load_exported
from hynas.explain.metrics import ad_ic, keep_top
from hynas.explain.rise import rise
from hynas.explain.tame import area_loss, train_tame, variation_loss
from hynas.export.codegen import generate_source
from hynas.proxy.data import Dataset, load_dataset
from hynas.proxy.trainer import train_proxy
from hynas.space.arch import Arch


def _block(kind: str, out: int) -> dict:
    if kind == "mhsa":
        return {"type": "mhsa", "out": out, "knobs": {"act": "gelu", "cpe": True, "head_dim": 16, "mlp_ratio": 2,
                                                      "qkv_bias": True}}
    return {"type": "mbconv", "out": out, "knobs": {"act": "gelu", "expansion": 2, "kernel": 3, "se": False,
                                                    "se_ratio": 0.25}}


def _arch(s2: str, s3: str) -> Arch:
    down = {"type": "conv_down", "knobs": {"kernel": 3, "norm": "bn"}}
    return Arch({"input": {"channels": 1, "resolution": 32, "classes": 10},
                 "stem": {"type": "conv_stem", "out": 16, "knobs": {"act": "gelu", "kernel": 3, "layers": 1,
                                                                    "reduction": 2}},
                 "stages": [{"name": "s1", "downsample": {"type": "none", "knobs": {}}, "blocks": [_block("mb", 16)]},
                            {"name": "s2", "downsample": down, "blocks": [_block(s2, 32)]},
                            {"name": "s3", "downsample": down, "blocks": [_block(s3, 32)]}],
                 "head": {"type": "pool_linear", "knobs": {"dropout": 0.0, "norm": "none"}}})


@pytest.fixture(scope="module")
def digits() -> Dataset:
    d = load_dataset("digits")
    return Dataset(d.name, d.train_x[:1500], d.train_y[:1500], d.val_x[:200], d.val_y[:200], d.classes,
                   mean=d.mean, std=d.std)


def _export(arch: Arch, data: Dataset, dest: Path) -> Path:
    torch.manual_seed(0)
    net = build_model(arch)
    train_proxy(net, data, steps=80, seed=0)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.py").write_text(generate_source(arch), encoding="utf-8")
    torch.save(net.state_dict(), dest / "model.pt")
    return dest


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits) -> Path:
    return _export(_arch("mb", "mhsa"), digits, tmp_path_factory.mktemp("hybrid"))


def test_tokens_become_maps() -> None:
    t = torch.randn(2, 17, 8)  # a class token + 16 patch tokens
    assert as_map(t).shape == (2, 8, 4, 4)
    assert as_map(torch.randn(2, 8, 3, 3)).shape == (2, 8, 3, 3)
    with pytest.raises(ValueError):
        as_map(torch.randn(2, 7, 8))


def test_loss_terms_prefer_small_smooth_masks() -> None:
    small, big = torch.full((2, 1, 8, 8), 0.1), torch.full((2, 1, 8, 8), 0.9)
    assert area_loss(small) < area_loss(big)
    rough = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert variation_loss(torch.zeros(2, 1, 8, 8)) == 0
    assert variation_loss(rough) > variation_loss(torch.nn.functional.avg_pool2d(rough, 3, 1, 1))


def test_keep_top_and_metric_bounds(exported, digits) -> None:
    m = torch.rand(3, 10, 10)
    assert [int((keep_top(m, f) > 0).flatten(1).sum(1)[0]) for f in (1.0, 0.5, 0.15)] == [100, 50, 15]
    loaded = load_exported(exported)
    x = digits.val_x[:50]
    cls = loaded.model(x).argmax(1)
    full = ad_ic(loaded.model, x, torch.ones(50, 32, 32), cls, fractions=(1.0,))
    assert full == {"AD_100": 0.0, "IC_100": 0.0}  # an all-ones map changes nothing
    blank = ad_ic(loaded.model, x, torch.zeros(50, 32, 32), cls, fractions=(1.0,))
    assert blank["AD_100"] > 30  # a blank image loses most of the confidence


def test_tame_trains_and_beats_gradcam_on_a_hybrid(exported, digits) -> None:
    """One forward pass gives a map per image; training lowers the loss; AD is below Grad-CAM's."""
    loaded = load_exported(exported)
    layers = default_layers(loaded.model)
    assert layers == ["stages.0", "stages.1", "stages.2"]  # conv stage and attention stage alike
    exp = train_tame(loaded.model, digits.train_x, layers, 10, steps=60, batch_size=32, seed=0)
    assert exp.history[-1]["total"] < exp.history[0]["total"]
    x = digits.val_x[:100]
    maps, cls = exp.explain(x)
    assert maps.shape == (100, 32, 32) and float(maps.min()) >= 0 and float(maps.max()) <= 1
    g, gcls = gradcam(loaded.model, x, layers[-1], classes=cls)
    assert torch.equal(gcls, cls) and g.shape == maps.shape
    t_m, g_m = ad_ic(loaded.model, x, maps, cls), ad_ic(loaded.model, x, g, cls)
    assert t_m["AD_100"] < g_m["AD_100"]


def test_rise_is_deterministic_and_class_specific(exported, digits) -> None:
    loaded = load_exported(exported)
    x = digits.val_x[:4]
    cls = loaded.model(x).argmax(1)
    a = rise(loaded.model, x, cls, masks=60, seed=1)
    assert a.shape == (4, 32, 32) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, rise(loaded.model, x, cls, masks=60, seed=1))
    assert not torch.allclose(a, rise(loaded.model, x, (cls + 1) % 10, masks=60, seed=1))


def test_cli_writes_overlays_and_metrics(exported, tmp_path) -> None:
    out = tmp_path / "ex"
    main(["explain", str(exported), "--steps", "20", "--count", "3", "--eval-images", "40", "--rise-masks", "30",
          "--out", str(out)])
    info = json.loads((out / "explain.json").read_text())
    assert set(info["metrics"]) == {"t-tame", "grad-cam", "rise"}
    assert set(info["metrics"]["t-tame"]) == {"AD_100", "IC_100", "AD_50", "IC_50", "AD_15", "IC_15"}
    assert [len(list((out / m).glob("*.png"))) for m in ("ttame", "gradcam", "rise")] == [3, 3, 3]
    assert (out / "maps.png").stat().st_size > 1000
    assert isinstance(torch.load(out / "attention.pt", weights_only=True), dict)


def _expect_exit2(args: list[str], out: Path, capsys, needle: str) -> None:
    with pytest.raises(SystemExit) as e:
        main([*args, "--steps", "5", "--rise-masks", "5", "--out", str(out)])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_bad_input_exits_2_and_writes_nothing(exported, digits, tmp_path, capsys) -> None:
    out = tmp_path / "never"
    _expect_exit2(["explain", str(tmp_path / "missing.py")], out, capsys, "file not found")
    broken = tmp_path / "broken.py"
    broken.write_text("def build(:\n")
    _expect_exit2(["explain", str(broken)], out, capsys, "does not load")
    other = _export(_arch("mb", "mb"), digits, tmp_path / "other")  # same file layout, another architecture
    _expect_exit2(["explain", str(exported / "model.py"), "--weights", str(other / "model.pt")], out, capsys,
                  "another architecture")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    _expect_exit2(["explain", str(exported), "--weights", str(tmp_path / "junk.pt")], out, capsys, "state_dict")
    rng = np.random.default_rng(0)
    five = tmp_path / "five.npz"
    np.savez(five, x_train=rng.integers(0, 255, (40, 32, 32), dtype=np.uint8), y_train=np.arange(40) % 5)
    _expect_exit2(["explain", str(exported), "--data", str(five)], out, capsys, "other classes")
    small = tmp_path / "small.npz"
    np.savez(small, x_train=rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), y_train=np.arange(40) % 10)
    _expect_exit2(["explain", str(exported), "--images", str(small)], out, capsys, "28x28")
    _expect_exit2(["explain", str(exported), "--layers", "stages.9"], out, capsys, "no module named")


def test_check_data_accepts_the_models_own_data(exported, digits) -> None:
    check_data(load_exported(exported), digits, "digits")
