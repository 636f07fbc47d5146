"""What the contract suite does not check for the 1-D paper blocks (Squeezeformer, MossFormer2, ClST):
the attention arithmetic against direct reference computations, the official initial values, how MACs
scale with the length, and the length changes of the reduce / recover / stride variants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hynas.blocks.clst import ClSTConvTransformer, ClSTPSCA
from hynas.blocks.mossformer import (
    DilatedDense1d,
    MossFormerFSMN,
    MossFormerGAU,
    mixed_attention,
    mixed_attention_macs,
)
from hynas.blocks.squeezeformer import (
    RelPosMHSA,
    SqueezeformerBlock,
    SqzSubsample,
    SqzTimeRecover,
    SqzTimeReduce,
    rel_sinusoid,
)
from hynas.cost import count_macs


def _qkv(n: int, s: int = 6, e: int = 5, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, n, s, generator=g) for _ in range(4)] + [torch.randn(2, n, e, generator=g)]


def _reference_mixed(qq, qk, lq, lk, v, chunk: int, pad_to: int) -> torch.Tensor:
    """The official arithmetic written plainly: zero-pad to ``pad_to`` tokens, block-diagonal
    relu(q k^T / chunk)^2 over chunks of ``pad_to`` // groups, plus lin_q (lin_k^T v / n)."""
    n = qq.shape[1]
    padded = [F.pad(t, (0, 0, 0, pad_to - n)) for t in (qq, qk, lq, lk, v)]
    qq, qk, lq, lk, v = padded
    size = min(chunk, pad_to)
    same_chunk = (torch.arange(pad_to)[:, None] // size) == (torch.arange(pad_to)[None, :] // size)
    attn = F.relu(qq @ qk.transpose(1, 2) / chunk) ** 2 * same_chunk
    return (attn @ v + lq @ (lk.transpose(1, 2) @ v) / n)[:, :n]


def test_chunked_attention_equals_full_attention_when_the_chunk_covers_the_sequence() -> None:
    qq, qk, lq, lk, v = _qkv(12)
    got = mixed_attention(qq, qk, lq, lk, v, chunk=256)
    # the official pads 12 tokens to one chunk of 256: the padding must change nothing
    torch.testing.assert_close(got, _reference_mixed(qq, qk, lq, lk, v, 256, 256))
    full = F.relu(qq @ qk.transpose(1, 2) / 256) ** 2 @ v + lq @ (lk.transpose(1, 2) @ v) / 12
    torch.testing.assert_close(got, full)


@pytest.mark.parametrize("n", [16, 10])
def test_chunked_attention_is_block_diagonal_with_zero_padding(n: int) -> None:
    qq, qk, lq, lk, v = _qkv(n, seed=1)
    got = mixed_attention(qq, qk, lq, lk, v, chunk=4)
    torch.testing.assert_close(got, _reference_mixed(qq, qk, lq, lk, v, 4, -(-n // 4) * 4))


def test_linear_attention_macs_grow_linearly_in_the_length() -> None:
    assert mixed_attention_macs(2048, 128, 2048, 256) == 2 * mixed_attention_macs(1024, 128, 2048, 256)
    gau = {"qk_dim": 128, "expansion": 4, "chunk": 256}
    assert MossFormerGAU.macs(512, 512, 1, 4096, 1, **gau) == 2 * MossFormerGAU.macs(512, 512, 1, 2048, 1, **gau)
    fsmn = MossFormerFSMN.macs(512, 512, 1, 4096, 1)
    assert fsmn == 2 * MossFormerFSMN.macs(512, 512, 1, 2048, 1)
    # full attention (Squeezeformer) is quadratic: doubling the length more than doubles its MACs
    assert SqueezeformerBlock.macs(144, 144, 1, 2000, 1) > 2.1 * SqueezeformerBlock.macs(144, 144, 1, 1000, 1)


def test_gau_traced_macs_match_the_formula_when_the_sequence_is_padded() -> None:
    torch.manual_seed(0)
    m = MossFormerGAU(16, 16, qk_dim=32, chunk=8).eval()
    assert count_macs(m, torch.randn(1, 16, 20)) == MossFormerGAU.macs(16, 16, 1, 20, 1, qk_dim=32, chunk=8)


def test_gau_shifts_tokens_and_keeps_shape() -> None:
    torch.manual_seed(0)
    m = MossFormerGAU(24, 24, qk_dim=32, chunk=8).eval()
    x = torch.randn(2, 24, 20)
    y = m(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # causal mixing is absent (global linear attention): changing the last token moves the first output
    x2 = x.clone()
    x2[..., -1] += 1.0
    assert not torch.allclose(m(x2)[..., 0], y[..., 0])


def test_fsmn_dense_memory_keeps_the_length_with_dense_dilated_grouped_convs() -> None:
    dense = DilatedDense1d(4, lorder=3, depth=3).eval()
    x = torch.randn(1, 4, 40)
    assert dense(x).shape == x.shape
    # layer i: dilation 2^i, kernel 2 * lorder - 1, the i + 1 earlier outputs concatenated, one group per channel
    for i, conv in enumerate(dense.convs):
        assert (conv.dilation, conv.kernel_size, conv.in_channels, conv.groups) == ((2 ** i,), (5,), 4 * (i + 1), 4)


def test_squeezeformer_scaled_residuals_start_as_the_official_code() -> None:
    m = SqueezeformerBlock(144, 144)
    for pre in m.pre:  # tf.Variable([1.] * d) and [0.] * d in every sub-module
        assert torch.equal(pre.weight, torch.ones(144)) and torch.equal(pre.bias, torch.zeros(144))
    assert torch.equal(m.attn.pos_bias_u, torch.zeros(4, 1, 36)) and torch.equal(m.attn.pos_bias_v, torch.zeros(4, 1, 36))
    # one XS block (see search_spaces/reference/squeezeformer_xs.yaml for the arithmetic)
    assert sum(p.numel() for p in m.parameters()) == 533_232
    ln = SqueezeformerBlock(144, 144, scaled_residual=False)
    assert all(isinstance(p, torch.nn.LayerNorm) for p in ln.pre)


def test_relative_position_logits_read_the_distance_between_query_and_key() -> None:
    torch.manual_seed(0)
    n, d = 7, 16
    att = RelPosMHSA(d, head_dim=8).eval()
    with torch.no_grad():
        att.pos_bias_u.normal_()
        att.pos_bias_v.normal_()
    t = torch.randn(1, n, d)
    q, k, v = att.qkv(t).reshape(1, n, 3, 2, 8).permute(2, 0, 3, 1, 4)
    p = att.pos(rel_sinusoid(n, d, t)).reshape(2 * n - 1, 2, 8)  # row m is distance n - 1 - m
    logits = torch.empty(1, 2, n, n)
    for i in range(n):
        for j in range(n):
            pos = p[n - 1 - (i - j)].T  # (heads, head_dim) at distance i - j
            logits[0, :, i, j] = ((q[0, :, i] + att.pos_bias_u[:, 0]) * k[0, :, j]).sum(-1) + \
                ((q[0, :, i] + att.pos_bias_v[:, 0]) * pos.T).sum(-1)
    ref = torch.softmax(logits / math.sqrt(8), -1) @ v
    ref = att.out(ref.transpose(1, 2).reshape(1, n, 16))
    torch.testing.assert_close(att(t), ref, atol=1e-5, rtol=1e-5)
    # NeMo's sinusoid: distance 0 (row n - 1) is sin 0 = 0 on even channels, cos 0 = 1 on odd ones
    row = rel_sinusoid(n, d, t)[n - 1]
    assert torch.equal(row[0::2], torch.zeros(8)) and torch.equal(row[1::2], torch.ones(8))


def test_time_reduction_halves_and_recovery_repeats_each_frame() -> None:
    x = torch.randn(2, 12, 30)
    assert SqzTimeReduce(12, 16)(x).shape == (2, 16, 15)
    rec = SqzTimeRecover(12, 12).eval()
    with torch.no_grad():
        rec.proj.weight.copy_(torch.eye(12)[..., None])
        rec.proj.bias.zero_()
        y = rec(x)
    assert y.shape == (2, 12, 60)
    torch.testing.assert_close(y[..., 0::2], x)
    torch.testing.assert_close(y[..., 1::2], x)


def test_subsampling_reduces_time_by_four_and_flattens_twenty_bins() -> None:
    stem = SqzSubsample(80, 144)
    assert stem.linear.in_features == 20 * 144  # the official 80 -> 40 -> 20 bins, times 144 channels
    assert stem(torch.randn(1, 80, 64)).shape == (1, 144, 16)


@pytest.mark.parametrize("cls", [ClSTConvTransformer, ClSTPSCA])
def test_clst_stride_two_halves_the_length(cls) -> None:
    torch.manual_seed(0)
    m = cls(16, 32, 2).eval()
    x = torch.randn(1, 16, 34)
    assert m(x).shape == (1, 32, 17)
    assert count_macs(m, x) == pytest.approx(cls.macs(16, 32, 2, 34, 1), rel=0.01)


def test_mossformer_padding_is_the_next_multiple_of_the_chunk() -> None:
    from hynas.blocks.mossformer import chunk_size, padded_length

    for chunk in (8, 16, 256):
        for n in range(1, 600):
            g, p = chunk_size(n, chunk), padded_length(n, chunk)
            assert p % g == 0 and 0 <= p - n < g, (n, chunk, g, p)
