"""Linear and convolution with the following activation or residual add
fused in, for the fast inference modules.

On the CPU (fp32, or bf16 autocast; the projection in bf16 only, see
:func:`linear`) each call is one oneDNN primitive with post-ops (PyTorch's
``torch.ops.mkldnn`` fusion ops, the ones inductor uses when it freezes a
model), which saves passes over the output; the dtypes
follow autocast's rules (inputs cast to the autocast dtype; a residual of
another dtype is added outside, with type promotion). Elsewhere (CUDA) and
under ``torch.compile`` (inductor makes these fusions itself, and its
lowering of the fusion ops wants constant weights) they are the plain
PyTorch calls. Both compute the same function. oneDNN's bf16 primitives
exist only on CPUs with native bf16 (AVX-512 BF16, AMX); elsewhere bf16 also
takes the plain calls (autocast's own kernels).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .. import cpu_features


def _onednn_dtype(x: Tensor) -> Optional[torch.dtype]:
    """The dtype a oneDNN call computes ``x`` in; None where none applies."""
    # is_compiling first: dynamo would break the graph on the other checks.
    if (torch.compiler.is_compiling() or x.device.type != 'cpu'
            or not torch.backends.mkldnn.is_available()):
        return None
    dtype = torch.get_autocast_dtype('cpu') if torch.is_autocast_enabled(
        'cpu') else x.dtype
    if dtype == torch.bfloat16 and not cpu_features.onednn_bf16_supported():
        return None
    return dtype if dtype in (torch.float32, torch.bfloat16) else None


def _cast(dtype: torch.dtype, *tensors: Optional[Tensor]) -> list:
    return [None if t is None else t.to(dtype) for t in tensors]


def _post_op(activation: Optional[nn.Module],
             after_add: bool) -> Optional[tuple]:
    """oneDNN's name and algorithm of an activation post-op, None where it
    has none (after a residual add oneDNN fuses only ReLU)."""
    if activation is None:
        return (None, None) if after_add else ('none', '')
    if type(activation) is nn.ReLU:
        return 'relu', ''
    if type(activation) is nn.GELU and not after_add:
        return 'gelu', activation.approximate
    return None


def plain_linear(x: Tensor,
                 weight: Tensor,
                 bias: Optional[Tensor] = None,
                 residual: Optional[Tensor] = None) -> Tensor:
    """:func:`linear` as separate PyTorch calls (its fallback)."""
    out = F.linear(x, weight, bias)
    return out if residual is None else residual + out


def linear(x: Tensor,
           weight: Tensor,
           bias: Optional[Tensor] = None,
           residual: Optional[Tensor] = None) -> Tensor:
    """``F.linear(x, weight, bias) + residual``.

    oneDNN's fused primitive runs in bf16 only: in fp32 it earned nothing
    over the plain calls on either CPU measured (the kernel study of
    ``docs/deployment.md``), so fp32 takes them.
    """
    dtype = _onednn_dtype(x)
    if dtype != torch.bfloat16:
        return plain_linear(x, weight, bias, residual)
    x, weight, bias = _cast(dtype, x, weight, bias)
    if residual is not None and residual.dtype == dtype:
        return torch.ops.mkldnn._linear_pointwise.binary(
            x, residual, weight, bias, 'add')
    out = torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'none', [], '')
    return out if residual is None else residual + out


def plain_conv2d(x: Tensor,
                 weight: Tensor,
                 bias: Optional[Tensor] = None,
                 padding: int = 0,
                 groups: int = 1,
                 activation: Optional[nn.Module] = None,
                 residual: Optional[Tensor] = None) -> Tensor:
    """:func:`conv2d` as separate PyTorch calls (its fallback)."""
    out = F.conv2d(x, weight, bias, padding=padding, groups=groups)
    if residual is not None:
        out = out + residual
    return out if activation is None else activation(out)


def conv2d(x: Tensor,
           weight: Tensor,
           bias: Optional[Tensor] = None,
           padding: int = 0,
           groups: int = 1,
           activation: Optional[nn.Module] = None,
           residual: Optional[Tensor] = None) -> Tensor:
    """``activation(F.conv2d(x, weight, bias, padding=padding,
    groups=groups) + residual)`` (stride 1, no dilation)."""
    post_op = _post_op(activation, after_add=residual is not None)
    dtype = _onednn_dtype(x)
    if post_op is not None and dtype is not None and (residual is None or
                                                      residual.dtype == dtype):
        name, algorithm = post_op
        x, weight, bias = _cast(dtype, x, weight, bias)
        geometry = ([padding] * 2, [1, 1], [1, 1], groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, *geometry, name, [], algorithm)
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, weight, bias, *geometry, 'add', None, name, [],
            algorithm)
    return plain_conv2d(x, weight, bias, padding, groups, activation, residual)
