"""A generated click log (dataset ``clicklog``) and users' own feature-field data as ``.npz``.

Why generated: recommender logs (Criteo, Avazu) are large downloads under their own terms, and
a search needs data whose structure is known. ``clicklog`` is seeded and embedded: 10
categorical fields (vocabularies 7..1000, ids drawn Zipf-like as in real logs) and 3 dense ones,
with clicks drawn from a logistic model whose logit is

    bias + sum of per-id main effects + dense main effects
         + sum over PLANTED_PAIRS (i, j) of <A_ij[id_i], B_ij[id_j]>   (or a_ij[id_i] * x_j, dense j)

Each planted pair has its own embeddings (A_ij for field i differs from A_ik), so how field i
interacts depends on its partner: the heterogeneous interactions Hiformer (Gui et al. 2023)
models with per-field projections, which shared attention has to learn through one set.
``clicklog_arrays`` also returns the true logits, so the best reachable AUC is known.

Users' data: an ``.npz`` with ``labels`` (N,) 0/1 and one array per field named as the field,
in the order the space lists its fields: an integer array (N,) is a categorical field, a float
array (N,) or (N, width) a dense one. A categorical field's vocabulary is the optional scalar
``vocab_<field>`` (ids must lie in 0..vocab-1), else its largest id + 1; the space's vocab may be
larger than the data's (its table has room to spare), never smaller. Refused naming the field:
a negative or non-integral id, an id past ``vocab_<field>`` (vocabulary overflow), NaN or inf in
a dense field, a length that differs from the labels, a ``vocab_<field>`` without its field.
Or a CSV with a header (a column per field, ``<name>_<i>`` for column i of a dense field wider
than 1, and ``labels``) beside its schema ``<stem>.schema.yaml`` (``fields:`` written as a space's
``input.fields``, vocabularies included); a schema field with no column is refused as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hynas.errors import SpecError
from hynas.proxy.data import DATASETS, Dataset, from_fields
from hynas.proxy.formats import dataset_format

Field = tuple[str, str, int]

#: the schema of ``clicklog`` (name, "cat" | "dense", vocabulary or width), as ``input.fields`` gives it
CLICKLOG_FIELDS: tuple[Field, ...] = (
    ("user", "cat", 1000), ("item", "cat", 500), ("category", "cat", 40), ("brand", "cat", 120),
    ("device", "cat", 8), ("os", "cat", 12), ("country", "cat", 50), ("hour", "cat", 24),
    ("weekday", "cat", 7), ("slot", "cat", 16),
    ("price", "dense", 1), ("user_age", "dense", 1), ("history", "dense", 4),
)
#: the field pairs whose interaction drives clicks (pair-specific embeddings of PAIR_DIM each)
PLANTED_PAIRS: tuple[tuple[str, str], ...] = (
    ("device", "slot"), ("hour", "category"), ("country", "os"), ("weekday", "hour"), ("category", "price"),
)
PAIR_DIM = 4
CLICKLOG_SIZE = 60_000


def _ids(rng: np.random.Generator, n: int, vocab: int) -> np.ndarray:
    """Zipf-like ids (rank r drawn with weight (r + 2)^-a, a larger for larger vocabularies), shuffled ranks."""
    a = 1.05 if vocab > 100 else 0.5
    p = (np.arange(vocab) + 2.0) ** -a
    return rng.permutation(vocab)[rng.choice(vocab, size=n, p=p / p.sum())]


def _dense(rng: np.random.Generator, n: int, name: str, width: int) -> np.ndarray:
    if name == "price":
        return rng.lognormal(2.5, 0.8, (n, width))
    if name == "user_age":
        return np.clip(rng.normal(35, 11, (n, width)), 14, 90)
    return rng.poisson(3.0, (n, width)).astype(np.float64)


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / (x.std(0) + 1e-9)


def _logits(rng: np.random.Generator, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(main-effect logit, planted-interaction logit) per row; the effects are drawn from ``rng``."""
    n = len(next(iter(cols.values())))
    main = np.zeros(n)
    for name, kind, size in CLICKLOG_FIELDS:
        if kind == "cat":
            main += rng.normal(0, 0.45 if size > 100 else 0.3, size)[cols[name]]
        else:
            main += _standard(cols[name]) @ rng.normal(0, 0.25, size)
    inter = np.zeros(n)
    kinds = {f[0]: f for f in CLICKLOG_FIELDS}
    for a, b in PLANTED_PAIRS:
        emb_a = rng.normal(0, 0.6, (kinds[a][2], PAIR_DIM))[cols[a]]
        if kinds[b][1] == "cat":
            inter += (emb_a * rng.normal(0, 0.6, (kinds[b][2], PAIR_DIM))[cols[b]]).sum(1)
        else:
            inter += 1.2 * emb_a[:, 0] * _standard(cols[b])[:, 0]
    return main, inter


def clicklog_arrays(n: int = CLICKLOG_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(table (n, columns), labels (n,), {"logit", "main", "interaction"}): the log and its true logits."""
    rng = np.random.default_rng(seed)
    cols = {name: (_ids(rng, n, size) if kind == "cat" else _dense(rng, n, name, size))
            for name, kind, size in CLICKLOG_FIELDS}
    main, inter = _logits(np.random.default_rng(seed + 1), cols)
    logit = -1.5 + main + inter
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    table = np.concatenate([cols[f].reshape(n, -1).astype(np.float64) for f, _, _ in CLICKLOG_FIELDS], 1)
    return table, labels, {"logit": logit, "main": main, "interaction": inter}


@DATASETS.decorator("clicklog")
def clicklog(root: str | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """60,000 generated impressions of 13 feature fields, 48,000/12,000 split, clicks scored by ROC AUC."""
    table, labels, _ = clicklog_arrays(CLICKLOG_SIZE, seed)
    return from_fields("clicklog", table, labels, CLICKLOG_FIELDS, val_fraction=0.2, seed=0, task="binary")


def _is_fields_npz(path: Path) -> bool:
    """An .npz holding ``labels`` but neither images (x_train) nor signals: a feature-field table."""
    if not (path.is_file() and path.suffix == ".npz"):
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
    except Exception:  # noqa: BLE001 (unreadable: let the plain npz format report it)
        return False
    return "labels" in names and not names & {"x_train", "signals"}


def fields_from_arrays(name: str, arrays: dict[str, np.ndarray], file: str = "") -> Dataset:
    """A feature-field dataset from one array per field plus ``labels`` (see the module docstring)."""
    labels = np.asarray(arrays["labels"])
    if labels.ndim != 1 or labels.dtype.kind not in "iub" or not np.isin(labels, (0, 1)).all():
        raise SpecError("labels must be a 1-D array of clicks, 0 or 1.", file=file, path="labels", allowed="0, 1")
    if len(np.unique(labels)) < 2:
        raise SpecError("the labels hold one class only: AUC needs clicks and non-clicks.", file=file,
                        path="labels")
    vocabs = {k[len("vocab_"):]: v for k, v in arrays.items() if k.startswith("vocab_")}
    names = [k for k in arrays if k != "labels" and not k.startswith("vocab_")]
    for f in vocabs:
        if f not in names:
            raise SpecError(f"vocab_{f} is given but the field '{f}' is missing.", file=file, path=f,
                            allowed=f"an array named '{f}'")
    if not names:
        raise SpecError("no field arrays beside labels.", file=file, path="labels")
    fields, columns = [], []
    for f in names:
        spec, col = _field(f, np.asarray(arrays[f]), vocabs.get(f), len(labels), file)
        fields.append(spec)
        columns.append(col)
    return from_fields(name, np.concatenate(columns, 1), labels, tuple(fields), task="binary")


def _field(name: str, x: np.ndarray, vocab: Any, n: int, file: str) -> tuple[Field, np.ndarray]:
    """One field's (name, kind, size) and its (n, width) columns; SpecError naming the field."""
    if len(x) != n:
        raise SpecError(f"{len(x)} rows but {n} labels.", file=file, path=name, allowed="one row per label")
    if x.dtype.kind in "iu":
        if x.ndim != 1:
            raise SpecError(f"a categorical field is one id per row, got shape {x.shape}.", file=file, path=name)
        if (x < 0).any():
            raise SpecError(f"negative id {int(x.min())}.", file=file, path=name, allowed="ids 0..vocab-1")
        top = int(x.max()) + 1
        size = top if vocab is None else int(np.asarray(vocab).reshape(()))
        if top > size:
            raise SpecError(f"vocabulary overflow: id {top - 1} but vocab_{name} is {size}.", file=file,
                            path=name, allowed=f"ids 0..{size - 1}")
        return (name, "cat", size), x.reshape(n, 1).astype(np.float64)
    if x.dtype.kind != "f" or x.ndim not in (1, 2):
        raise SpecError(f"dtype {x.dtype}, shape {x.shape}: not a field.", file=file, path=name,
                        allowed="integer ids (N,) for a categorical field, floats (N,) or (N, width) for a dense one")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise SpecError(f"{int(bad.sum())} NaN or inf values in a dense field (first in row {row}).", file=file,
                        path=name, allowed="finite floats")
    x = x.reshape(n, -1)
    return (name, "dense", x.shape[1]), x.astype(np.float64)


@dataset_format("fields-npz", "a NumPy .npz of feature fields: labels (0/1) and one array per field, named as "
                "the field (integer ids: categorical, vocab_<field> optional; floats: dense)", _is_fields_npz)
def load_fields_npz(path: Path, recipe: Any = None) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return fields_from_arrays(path.stem, arrays, str(path))


def _schema_path(path: Path) -> Path:
    return path.with_name(path.stem + ".schema.yaml")


def _read_schema(path: Path) -> tuple[Field, ...]:
    """``fields:`` as a space's ``input.fields`` writes them, from the YAML beside the CSV."""
    from hynas.space.loader import _fields_input
    from hynas.space.yamlio import read_yaml

    raw, _ = read_yaml(path)
    if not isinstance(raw, dict) or "fields" not in raw:
        raise SpecError("a field schema is a mapping with 'fields: [...]'.", file=str(path), path="fields")
    try:
        return _fields_input({"fields": raw["fields"], "classes": 2}, "fields").fields
    except SpecError as e:
        raise e.located(str(path)) from None


@dataset_format("fields-csv", "a CSV of feature fields with a header (a column per field, <name>_<i> for the "
                "i-th column of a wider dense field, and labels) and its schema <stem>.schema.yaml "
                "(fields: as a space's input.fields)",
                lambda p: p.is_file() and p.suffix == ".csv" and _schema_path(p).is_file())
def load_fields_csv(path: Path, recipe: Any = None) -> Dataset:
    import csv

    schema = _read_schema(_schema_path(path))
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise SpecError("the CSV is empty.", file=str(path))
    head, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(head)}
    arrays: dict[str, np.ndarray] = {}
    for name, kind, size in schema:
        names = [name] if kind == "cat" or size == 1 else [f"{name}_{i}" for i in range(size)]
        missing = [n for n in names if n not in col]
        if missing:
            raise SpecError(f"missing field: no column {', '.join(missing)} in the header.", file=str(path),
                            path=name, allowed=", ".join(head))
        x = _numbers(path, name, [[r[col[n]] if col[n] < len(r) else "" for n in names] for r in body])
        if kind == "cat":
            if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
                raise SpecError("a categorical field holds whole ids; found a fraction or an empty cell.",
                                file=str(path), path=name, allowed=f"ids 0..{size - 1}")
            arrays[name], arrays[f"vocab_{name}"] = x[:, 0].astype(np.int64), np.array(size)
        else:
            arrays[name] = x
    if "labels" not in col:
        raise SpecError("no 'labels' column in the header.", file=str(path), path="labels", allowed="0, 1")
    labels = _numbers(path, "labels", [[r[col["labels"]] if col["labels"] < len(r) else "" for r in body]])[0]
    arrays["labels"] = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels  # else refused
    return fields_from_arrays(path.stem, arrays, str(path))


def _numbers(path: Path, name: str, cells: list[list[str]]) -> np.ndarray:
    """Cells as floats (an empty cell is NaN); SpecError naming the field for text that is not a number."""
    try:
        return np.array([[float(c) if c.strip() else np.nan for c in row] for row in cells], dtype=np.float64)
    except ValueError as e:
        raise SpecError(f"not a number: {e}.", file=str(path), path=name) from None
