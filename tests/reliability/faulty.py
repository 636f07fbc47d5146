"""Test-only blocks that fail on purpose, one per way a candidate can go wrong.

They are plain classes here and registered only by the ``faulty_blocks`` fixture (and
unregistered after), so they never leak into the registry other tests see. Each keeps a
real parameter so the optimizer has something to train, and follows the body-block
contract of ``hynas/blocks/base.py``.
"""

from __future__ import annotations

import time

import torch
from torch import nn

OOM_BYTES = 2 * 2**30  # one allocation of 2 GiB: fine on the machine, refused under a small per-trial cap


class _Base(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1, stride)

    @staticmethod
    def macs(in_ch: int, out_ch: int, stride: int, h: int, w: int, **_: object) -> int:
        return in_ch * out_ch * (h // stride) * (w // stride)


class RaisingBlock(_Base):
    """Raises in forward (a bug in a block)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("rel_raise: deliberate failure in forward")


class NanBlock(_Base):
    """Returns NaN activations, so the first training loss is NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) * float("nan")


class HugeBlock(_Base):
    """Allocates far more memory than the per-trial cap allows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        waste = torch.empty(OOM_BYTES // 4, dtype=torch.float32)
        waste.fill_(1.0)
        return self.proj(x) + waste[0]


class HangingBlock(_Base):
    """Never returns (a deadlock, an endless loop)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(3600)
        return self.proj(x)


class FlakyBlock(_Base):
    """Raises while training as long as the file named by $HYNAS_TEST_FLAKY exists (a transient fault:
    a full disk, a busy GPU), so a later ``--retry-failed`` can succeed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import os

        marker = os.environ.get("HYNAS_TEST_FLAKY", "")
        if self.training and marker and os.path.exists(marker):
            raise RuntimeError("rel_flaky: transient failure while training")
        return self.proj(x)


FAULTY = {"rel_raise": RaisingBlock, "rel_nan": NanBlock, "rel_oom": HugeBlock, "rel_hang": HangingBlock,
          "rel_flaky": FlakyBlock}

SPACE_YAML = """\
name: faulty
input: {{channels: 1, resolution: 32, classes: 10}}
stem:
  width: 8
  blocks: {{conv_stem: {{kernel: 3, reduction: 2}}}}
stages:
  - name: s1
    width: 8
    downsample: none
    depth: 1
    blocks: [{blocks}]
head: pool_linear
"""


def space_yaml(*blocks: str) -> str:
    """A one-decision space: which body block the single stage uses."""
    return SPACE_YAML.format(blocks=", ".join(blocks))


def sleep_forever(pid_file: str) -> None:
    """A trial body that records its process id and never returns (for the orphan test)."""
    import os
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(3600)
