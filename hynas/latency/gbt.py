"""Gradient-boosted regression trees stored as plain JSON, evaluated without scikit-learn.

scikit-learn fits the trees (``fit_gbt``); only their structure is kept: for each tree the
arrays ``feature``, ``threshold``, ``left``, ``right`` and leaf ``value`` — the layout
``sklearn.tree._tree.Tree`` uses, with ``left == -1`` marking a leaf. A predictor file
therefore loads on any later version of any library and never unpickles anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def __call__(self, x: Sequence[float]) -> float:
        node = 0
        left, right, feat, thr = self.left, self.right, self.feature, self.threshold
        while left[node] != -1:
            node = left[node] if x[feat[node]] <= thr[node] else right[node]
        return self.value[node]


@dataclass(frozen=True)
class Boosted:
    """init + learning_rate * sum of trees (squared-error gradient boosting)."""

    init: float
    learning_rate: float
    trees: tuple[Tree, ...]

    def __call__(self, x: Sequence[float]) -> float:
        return self.init + self.learning_rate * sum(t(x) for t in self.trees)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "gbt",
            "init": self.init,
            "learning_rate": self.learning_rate,
            "trees": [
                {
                    "feature": list(t.feature),
                    "threshold": list(t.threshold),
                    "left": list(t.left),
                    "right": list(t.right),
                    "value": list(t.value),
                }
                for t in self.trees
            ],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Boosted:
        if d.get("kind") != "gbt":
            raise ValueError(f"unknown regressor kind {d.get('kind')!r}")
        trees = tuple(
            Tree(
                tuple(int(i) for i in t["feature"]),
                tuple(float(v) for v in t["threshold"]),
                tuple(int(i) for i in t["left"]),
                tuple(int(i) for i in t["right"]),
                tuple(float(v) for v in t["value"]),
            )
            for t in d["trees"]
        )
        return cls(float(d["init"]), float(d["learning_rate"]), trees)


def fit_gbt(
    x: list[list[float]],
    y: list[float],
    *,
    n_trees: int = 300,
    depth: int = 4,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> Boosted:
    """Fit squared-error gradient boosting with scikit-learn and keep only the tree structure."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n_trees = n_trees if len(ya) >= 8 else 1
    m = GradientBoostingRegressor(
        n_estimators=n_trees,
        max_depth=depth,
        learning_rate=learning_rate,
        subsample=0.8 if len(ya) >= 20 else 1.0,
        min_samples_leaf=2 if len(ya) >= 8 else 1,
        random_state=seed,
    )
    m.fit(xa, ya)
    init = float(np.ravel(m.init_.predict(xa[:1]))[0])
    trees = []
    for est in m.estimators_[:, 0]:
        t = est.tree_
        trees.append(
            Tree(
                tuple(int(f) for f in t.feature),
                tuple(float(v) for v in t.threshold),
                tuple(int(i) for i in t.children_left),
                tuple(int(i) for i in t.children_right),
                tuple(float(v) for v in t.value[:, 0, 0]),
            )
        )
    return Boosted(init, float(learning_rate), tuple(trees))
