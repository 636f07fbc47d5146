"""Feature fields as tokens: the stem that turns a recommender's table into one token per field.

A feature-field input (``input: {fields: [...]}``) is a (N, columns) float table: one column per
categorical field holding its id, ``width`` columns per dense field. ``field_embed`` looks each
categorical id up in its own table and projects each dense field with its own linear map
(AutoInt, Song et al. 2019; DCN-V2, Wang et al. 2021; Hiformer, Gui et al. 2023 all embed this
way), giving (N, out_ch, n_fields) tokens that every 1-D token block then mixes. Ids outside a
field's vocabulary are clamped to its first or last id (training data with such ids is refused
when it is loaded), so the network runs on any table, e.g. the random inputs latency is timed
on. MACs: the dense projections (lookups carry no multiply-adds).
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.space.catalog import bool_knob


@register_block("field_embed", role="stem", family="fields", dims=(1,), fields=True,
                paper="per-field embeddings as in AutoInt (Song et al. 2019), DCN-V2 (Wang et al. 2021), "
                      "Hiformer (Gui et al. 2023)",
                knobs={"norm": bool_knob(False, "LayerNorm over each field's embedding")})
class FieldEmbed(nn.Module):
    """One embedding table per categorical field, one linear map per dense field; a token each."""

    def __init__(self, in_ch: int, out_ch: int, fields: list | None = None, norm: bool = False) -> None:
        super().__init__()
        fields = fields or []
        self.kinds = [str(k) for _, k, _ in fields]
        self.sizes = [int(s) for _, _, s in fields]
        self.spans: list[tuple[int, int]] = []
        col = 0
        tables = []
        for _, kind, size in fields:
            width = 1 if kind == "cat" else int(size)
            self.spans.append((col, col + width))
            col += width
            tables.append(nn.Embedding(int(size), out_ch) if kind == "cat" else nn.Linear(int(size), out_ch))
        self.tables = nn.ModuleList(tables)
        self.norm = nn.LayerNorm(out_ch) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = []
        for kind, size, (a, b), table in zip(self.kinds, self.sizes, self.spans, self.tables):
            if kind == "cat":  # an id outside the table (timing on random inputs, serving) is clamped to its ends
                tokens.append(table(x[:, a].long().clamp(0, size - 1)))
            else:
                tokens.append(table(x[:, a:b]))
        return self.norm(torch.stack(tokens, 1)).transpose(1, 2)

    @staticmethod
    def reduction(**_: object) -> int:
        return 1

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, *, fields: list | None = None,
             **_: object) -> int:
        return sum(int(size) * out_ch for _, kind, size in (fields or []) if kind == "dense")
