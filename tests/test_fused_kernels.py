"""Winograd convolution and the oneDNN-fused ops compute what the plain
PyTorch ops compute (speed is measured by tools/benchmark.py)."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ssformer_mmseg import cpu_features
from ssformer_mmseg.ops import fused_ops
from ssformer_mmseg.ops.winograd import (WinogradConv2d, can_use_winograd,
                                         use_winograd, winograd_matrices)


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    return ((out.double() - reference).abs().max() /
            reference.abs().max()).item()


@pytest.mark.parametrize('points,tile', [((0., 1., -1., 0.5, -2.), 4),
                                         ((0., 1., -1.), 2)])
def test_winograd_matrices_compute_a_correlation(points, tile):
    input_transform, filter_transform, output_transform = \
        winograd_matrices(points, tile)
    generator = torch.Generator().manual_seed(0)
    d = torch.randn(tile + 2, dtype=torch.float64, generator=generator)
    g = torch.randn(3, dtype=torch.float64, generator=generator)
    out = output_transform @ ((filter_transform @ g) * (input_transform @ d))
    expected = torch.stack([d[i:i + 3] @ g for i in range(tile)])
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_winograd_matrices_need_the_right_number_of_points():
    with pytest.raises(ValueError, match='needs 5 finite points, got 3'):
        winograd_matrices((0., 1., -1.), 4)


@pytest.mark.parametrize('batch,in_ch,out_ch,height,width,bias,layout', [
    (2, 5, 7, 13, 10, True, torch.channels_last),
    (1, 64, 96, 24, 24, False, torch.channels_last),
    (3, 8, 4, 1, 3, True, torch.contiguous_format),
])
def test_winograd_conv_matches_conv2d(batch, in_ch, out_ch, height, width,
                                      bias, layout):
    torch.manual_seed(0)
    conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)
    fast = copy.deepcopy(conv)
    assert use_winograd(fast) == 1 and type(fast) is WinogradConv2d
    inputs = torch.randn(batch, in_ch, height,
                         width).contiguous(memory_format=layout)
    with torch.no_grad():
        reference = conv.double()(inputs.double())
        direct = F.conv2d(inputs, fast.weight, fast.bias, padding=1)
        out = fast(inputs)
    assert out.shape == reference.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    # Within a few times the rounding error of the direct convolution.
    assert relative_error(out, reference) < max(
        2e-5, 10 * relative_error(direct, reference))
    # Same parameters and keys: checkpoints still load.
    assert fast.state_dict().keys() == conv.state_dict().keys()


def test_winograd_applies_only_to_dense_3x3_same_size_convs():
    eligible = nn.Conv2d(4, 4, 3, padding=1)
    assert can_use_winograd(eligible)
    for conv in (nn.Conv2d(4, 4, 3, padding=1,
                           stride=2), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                 nn.Conv2d(4, 4, 3, padding=2,
                           dilation=2), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 1),
                 nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect')):
        assert not can_use_winograd(conv)
    model = nn.Sequential(eligible, nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2))
    assert use_winograd(model) == 1
    assert [type(m) for m in model] == [WinogradConv2d, nn.ReLU, nn.Conv2d]


ACTIVATIONS = [
    None,
    nn.ReLU(inplace=True),
    nn.GELU(),
    nn.GELU(approximate='tanh'),
    nn.SiLU()
]


@pytest.mark.parametrize('activation', ACTIVATIONS)
@pytest.mark.parametrize('with_residual', [False, True])
@pytest.mark.parametrize('groups', [1, 8])
def test_fused_conv2d_matches_plain_ops(activation, with_residual, groups):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 9, 7).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(8, 8 // groups, 3, 3)
    bias = torch.randn(8)
    residual = torch.randn(2, 8, 9, 7) if with_residual else None
    expected = F.conv2d(x, weight, bias, padding=1, groups=groups)
    if residual is not None:
        expected = expected + residual
    if activation is not None:
        expected = copy.deepcopy(activation)(expected)
    out = fused_ops.conv2d(
        x,
        weight,
        bias,
        padding=1,
        groups=groups,
        activation=activation,
        residual=residual)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('with_residual', [False, True])
def test_fused_linear_takes_the_plain_calls_in_fp32(with_residual,
                                                    monkeypatch):
    # The fused projection earned nothing in fp32 (docs/deployment.md).
    calls = []
    plain = fused_ops.plain_linear
    monkeypatch.setattr(fused_ops, 'plain_linear',
                        lambda *args: calls.append(args) or plain(*args))
    torch.manual_seed(0)
    x, weight, bias = torch.randn(2, 30, 16), torch.randn(24, 16), \
        torch.randn(24)
    residual = torch.randn(2, 30, 24) if with_residual else None
    expected = F.linear(x, weight, bias)
    if residual is not None:
        expected = expected + residual
    torch.testing.assert_close(
        fused_ops.linear(x, weight, bias, residual=residual),
        expected,
        rtol=1e-5,
        atol=1e-5)
    assert len(calls) == 1


@pytest.mark.parametrize('onednn_bf16', [True, False])
def test_fused_ops_follow_autocast_dtype_rules(onednn_bf16, monkeypatch):
    """Under bf16 autocast: computed in bf16, and a float32 residual is
    added with type promotion, as ``F.linear(...) + residual`` would be.
    Without oneDNN's bf16 primitives (CPUs lacking AVX-512 BF16 / AMX,
    where oneDNN refuses to create them) the plain ops give the same."""
    if onednn_bf16 and not cpu_features.onednn_bf16_supported():
        pytest.skip('this CPU has no oneDNN bf16 primitives')
    monkeypatch.setattr(cpu_features, 'onednn_bf16_supported',
                        lambda: onednn_bf16)
    torch.manual_seed(0)
    x, weight, bias = torch.randn(30, 16), torch.randn(24, 16), \
        torch.randn(24)
    residual32 = torch.randn(30, 24)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        plain = F.linear(x, weight, bias)
        fused = fused_ops.linear(x, weight, bias)
        promoted = fused_ops.linear(x, weight, bias, residual=residual32)
        low = fused_ops.linear(x, weight, bias, residual=residual32.bfloat16())
    assert fused.dtype == plain.dtype == torch.bfloat16
    torch.testing.assert_close(fused, plain)
    assert promoted.dtype == torch.float32 and low.dtype == torch.bfloat16
    torch.testing.assert_close(promoted, residual32 + plain.float())
    images = torch.randn(1, 8, 6, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        conv = fused_ops.conv2d(
            images,
            torch.randn(8, 1, 3, 3),
            padding=1,
            groups=8,
            activation=nn.GELU())
    assert conv.dtype == torch.bfloat16


def test_fused_ops_compile_in_one_graph():
    """Under torch.compile they are plain ops: no graph break (inductor
    fuses them itself)."""

    def block(x, weight, bias, residual, kernel):
        hidden = fused_ops.linear(x, weight, bias, residual=residual)
        image = hidden.view(1, 5, 6, 24).permute(0, 3, 1, 2)
        return fused_ops.conv2d(
            image, kernel, padding=1, groups=24, activation=nn.GELU())

    torch.manual_seed(0)
    args = (torch.randn(1, 30, 16), torch.randn(24, 16), torch.randn(24),
            torch.randn(1, 30, 24), torch.randn(24, 1, 3, 3))
    compiled = torch.compile(block, fullgraph=True)
    torch.testing.assert_close(
        compiled(*args), block(*args), rtol=1e-5, atol=1e-5)
