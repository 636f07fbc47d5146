"""The generated click log and feature-field .npz files: schema, planted interactions, refusals naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hynas.errors import SpecError, UserError
from hynas.proxy.clicklog import CLICKLOG_FIELDS, PLANTED_PAIRS, clicklog_arrays
from hynas.proxy.data import load_dataset
from hynas.proxy.tasks import roc_auc, task_of
from hynas.search.problems.evaluate import check_data_fits
from hynas.space.loader import parse_space


def test_clicklog_is_seeded_and_keeps_its_schema() -> None:
    a, ya, la = clicklog_arrays(3000, seed=1)
    b, yb, _ = clicklog_arrays(3000, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert a.shape == (3000, sum(1 if k == "cat" else w for _, k, w in CLICKLOG_FIELDS))
    col = 0
    for _, kind, size in CLICKLOG_FIELDS:
        if kind == "cat":
            ids = a[:, col]
            assert ids.min() >= 0 and ids.max() < size and np.all(ids == np.round(ids))
        col += 1 if kind == "cat" else size
    assert 0.2 < ya.mean() < 0.45 and set(la) == {"logit", "main", "interaction"}
    assert not np.array_equal(clicklog_arrays(3000, seed=2)[0], a)


def test_planted_pairs_carry_signal_beyond_the_main_effects() -> None:
    """The true logit ranks clicks clearly better than its main effects alone: interactions pay."""
    _, y, logits = clicklog_arrays(20000, seed=0)
    auc = {k: roc_auc(torch.tensor(v), torch.tensor(y)) for k, v in logits.items()}
    assert auc["logit"] > auc["main"] + 0.05 and auc["logit"] > auc["interaction"] + 0.05
    assert len(PLANTED_PAIRS) >= 3 and all(a != b for a, b in PLANTED_PAIRS)


def _space(fields: list[dict]) -> object:
    return parse_space({"input": {"fields": fields, "classes": 2}, "stem": {"width": 16, "blocks": "field_embed"},
                        "stages": [{"width": 16, "depth": 1, "blocks": "dcn_cross"}], "head": "pool_linear"})


def test_registered_clicklog_matches_a_space_built_from_its_schema() -> None:
    data = load_dataset("clicklog")
    assert data.fields == CLICKLOG_FIELDS and task_of(data).metric == "AUC" and data.classes == 2
    assert len(data.train_y) == 48_000 and len(data.val_y) == 12_000
    schema = [{"name": n, "vocab": s} if k == "cat" else {"name": n, "dense": s} for n, k, s in CLICKLOG_FIELDS]
    check_data_fits(data, _space(schema), "clicklog")
    renamed = [f if f["name"] != "slot" else {"name": "placement", "vocab": 16} for f in schema]
    with pytest.raises(UserError, match="field 'placement' is absent in the data"):
        check_data_fits(data, _space(renamed), "clicklog")


def _write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _arrays(n: int = 200) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"user": rng.integers(0, 30, n), "price": rng.normal(size=n), "ctx": rng.normal(size=(n, 3)),
            "item": rng.integers(0, 9, n), "vocab_user": np.array(50), "labels": rng.integers(0, 2, n)}


def test_fields_npz_loads_in_file_order_with_given_and_inferred_vocabularies(tmp_path: Path) -> None:
    d = load_dataset(str(_write(tmp_path / "mine.npz", **_arrays())))
    assert d.fields == (("user", "cat", 50), ("price", "dense", 1), ("ctx", "dense", 3), ("item", "cat", 9))
    assert d.channels == 6 and d.task == "binary"
    space = _space([{"name": "user", "vocab": 60}, {"name": "price", "dense": 1}, {"name": "ctx", "dense": 3},
                    {"name": "item", "vocab": 9}])
    check_data_fits(d, space, "mine.npz")  # the space's table may be larger than the data's vocabulary
    small = _space([{"name": "user", "vocab": 40}, {"name": "price", "dense": 1}, {"name": "ctx", "dense": 3},
                    {"name": "item", "vocab": 9}])
    with pytest.raises(UserError, match=r"field 'user' .* 50 ids in the data .* 40 ids .*vocabulary overflow"):
        check_data_fits(d, small, "mine.npz")


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"price": np.r_[np.nan, np.zeros(199)]}, "price", "NaN or inf"),
    ({"ctx": np.full((200, 3), np.inf)}, "ctx", "NaN or inf"),
    ({"user": np.r_[50, np.zeros(199, dtype=np.int64)]}, "user", "vocabulary overflow"),
    ({"item": np.r_[-1, np.zeros(199, dtype=np.int64)]}, "item", "negative id"),
    ({"vocab_brand": np.array(5)}, "brand", "field 'brand' is missing"),
    ({"item": np.zeros(150, dtype=np.int64)}, "item", "150 rows but 200 labels"),
    ({"labels": np.full(200, 2)}, "labels", "0 or 1"),
])
def test_bad_field_files_are_refused_naming_the_field(tmp_path: Path, change: dict, field: str, says: str) -> None:
    path = _write(tmp_path / "bad.npz", **(_arrays() | change))
    with pytest.raises(SpecError) as e:
        load_dataset(str(path))
    assert f"field '{field}'" in str(e.value) and says in str(e.value) and "bad.npz" in str(e.value)


def test_a_bad_field_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hynas.cli import main

    path = _write(tmp_path / "bad.npz", **(_arrays() | {"price": np.r_[np.nan, np.zeros(199)]}))
    with pytest.raises(SystemExit) as e:
        main(["search", "--space", "recsys", "--dataset", str(path), "--budget", "1",
              "--run-dir", str(tmp_path / "run")])
    assert e.value.code == 2
    assert "field 'price'" in capsys.readouterr().err and not (tmp_path / "run").exists()


def _csv(tmp_path: Path, rows: list[str], schema: str = "fields: [{name: user, vocab: 5}, {name: ctx, dense: 2}]"
         ) -> Path:
    (tmp_path / "log.schema.yaml").write_text(schema + "\n", encoding="utf-8")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(["labels,ctx_1,user,ctx_0", *rows]) + "\n", encoding="utf-8")
    return path


def test_fields_csv_with_its_schema_loads_in_schema_order(tmp_path: Path) -> None:
    d = load_dataset(str(_csv(tmp_path, ["1,0.5,3,2", "0,1.5,0,-1", "0,2,4,0", "1,0,1,1", "0,1,2,3"])))
    assert d.fields == (("user", "cat", 5), ("ctx", "dense", 2))
    assert d.channels == 3 and len(d.train_y) + len(d.val_y) == 5
    ids = torch.cat([d.train_x[:, 0], d.val_x[:, 0]]).sort().values
    torch.testing.assert_close(ids, torch.tensor([0.0, 1, 2, 3, 4]))  # the id column, not a ctx column


@pytest.mark.parametrize(("rows", "schema", "field", "says"), [
    (["1,0.5,5,2", "0,1,0,1"], None, "user", "vocabulary overflow"),
    (["1,,3,2", "0,1,0,1"], None, "ctx", "NaN or inf"),
    (["1,0.5,3,2", "0,1,0,1"], "fields: [{name: user, vocab: 5}, {name: geo, vocab: 4}]", "geo", "missing field"),
    (["1,0.5,3.5,2", "0,1,0,1"], None, "user", "whole ids"),
    (["1,0.5,3,abc", "0,1,0,1"], None, "ctx", "not a number"),
])
def test_bad_field_csvs_are_refused_naming_the_field(tmp_path: Path, rows: list[str], schema: str | None,
                                                     field: str, says: str) -> None:
    path = _csv(tmp_path, rows, *([schema] if schema else []))
    with pytest.raises(SpecError) as e:
        load_dataset(str(path))
    assert f"field '{field}'" in str(e.value) and says in str(e.value)
