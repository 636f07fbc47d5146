"""NAS-Bench-201 cells as a hynas block, so cell search spaces and hybrids can mix them.

Dong & Yang, "NAS-Bench-201", ICLR 2020: a cell is a DAG over 4 nodes; node i sums one op
applied to every earlier node j, the op on each of the 6 edges being one of none,
skip_connect, nor_conv_1x1, nor_conv_3x3 (ReLU-conv-BN) or avg_pool_3x3; the cell outputs
node 3. ``hynas.proxy.nb201`` builds the benchmark's exact macro network from these parts.
As a block, the cell keeps its map; a 1x1 conv + BN first matches channels when in != out.
"""

from __future__ import annotations

import torch
from torch import nn

from hynas.blocks.base import register_block
from hynas.blocks.common import ChannelProj, proj_macs
from hynas.nb201 import EDGES as NB201_EDGES  # (to node, from node), the benchmark's order
from hynas.nb201 import OPS as NB201_OPS
from hynas.space.catalog import choice_knob

EDGE_KNOBS = ("e10", "e20", "e21", "e30", "e31", "e32")


class ReLUConvBN(nn.Sequential):
    """ReLU, conv (no bias, 'same' padding), BatchNorm: NB201's conv op and reduction unit."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class ZeroOp(nn.Module):
    """The 'none' op: zeros shaped like the input (x * 0 keeps the graph, as the official code does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def nb201_op(name: str, channels: int) -> nn.Module:
    """One edge op at a fixed width and stride 1."""
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    if name == "none":
        return ZeroOp()
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}; known: {NB201_OPS}")


class CellDAG(nn.Module):
    """InferCell: node i = sum over j < i of op_ij(node j); returns node 3."""

    def __init__(self, genotype: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList([nb201_op(op, channels) for op in genotype])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for i in range(1, 4):
            total = self.ops[k](nodes[0])
            for j in range(1, i):
                total = total + self.ops[k + j](nodes[j])
            k += i
            nodes.append(total)
        return nodes[3]


def _op_macs(name: str, channels: int, h: int, w: int) -> int:
    kernel = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}.get(name, 0)
    return kernel * kernel * channels * channels * h * w


@register_block("nb201_cell", role="body", family="cells",
                paper="NAS-Bench-201 (Dong & Yang, ICLR 2020) cell: 4-node DAG, 5 ops per edge",
                knobs={k: choice_knob("nor_conv_3x3", NB201_OPS, f"op on edge {j}->{i}")
                       for k, (i, j) in zip(EDGE_KNOBS, NB201_EDGES)})
class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell (6 edge ops as knobs); a 1x1 projection first when in != out."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, e10: str = "nor_conv_3x3",
                 e20: str = "nor_conv_3x3", e21: str = "nor_conv_3x3", e30: str = "nor_conv_3x3",
                 e31: str = "nor_conv_3x3", e32: str = "nor_conv_3x3") -> None:
        super().__init__()
        self.proj = ChannelProj(in_ch, out_ch)
        self.cell = CellDAG((e10, e20, e21, e30, e31, e32), out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cell(self.proj(x))

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **knobs: str) -> int:
        ops = [knobs.get(k, "nor_conv_3x3") for k in EDGE_KNOBS]
        return proj_macs(in_ch, out_ch, 1, h, w) + sum(_op_macs(op, out_ch, h, w) for op in ops)
