"""Winograd F(4x4, 3x3) convolution for dense 3x3 convolutions on the CPU.

oneDNN runs fp32 3x3 convolutions as direct convolutions, close to the
CPU's peak multiply-add rate; the only way left to run them faster is to do
fewer multiplications. Winograd's minimal filtering algorithm (Lavin & Gray,
`Fast Algorithms for Convolutional Neural Networks
<https://arxiv.org/abs/1509.09308>`_, CVPR 2016) computes each 4x4 output tile
from a 6x6 input tile with 36 multiplications per channel pair instead of
144: transform the input tiles (``B^T d B``) and the weights (``G g G^T``,
once), multiply them as 36 independent matrix products over channels, and
transform the result back (``A^T m A``).

The transforms come from Toom-Cook interpolation at the points
0, 1, -1, 1/2, -2 and infinity; mixing a small and a large point keeps the
fp32 rounding error about 3x that of a direct convolution instead of the
usual 0, +-1, +-2 choice's 7x (Barabasz et al., `Error Analysis and Improving
the Accuracy of Winograd Convolution for Deep Neural Networks
<https://arxiv.org/abs/1803.10986>`_, 2020).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

OUTPUT_TILE = 4
POINTS = (0., 1., -1., 0.5, -2.)


def winograd_matrices(points: Sequence[float] = POINTS,
                      output_tile: int = OUTPUT_TILE,
                      kernel: int = 3) -> Tuple[Tensor, Tensor, Tensor]:
    """Toom-Cook transforms ``(B^T, G, A^T)`` of F(m, r), in float64.

    Args:
        points (Sequence[float]): The ``m + r - 2`` finite interpolation
            points (infinity is the last one).
        output_tile (int): ``m``, outputs per tile along one axis.
        kernel (int): ``r``, the filter size.

    Returns:
        tuple[Tensor]: ``B^T`` (n x n), ``G`` (n x r) and ``A^T`` (m x n),
        with ``n = m + r - 1``, such that the correlation of ``d`` (n) with
        ``g`` (r) is ``A^T ((G g) * (B^T d))``.
    """
    size = output_tile + kernel - 1
    if len(points) != size - 1:
        raise ValueError(f'F({output_tile}, {kernel}) needs {size - 1} '
                         f'finite points, got {len(points)}')
    finite = torch.tensor(points, dtype=torch.float64)[:, None]

    # Rows evaluate a polynomial at each point; the last row, infinity,
    # picks its leading coefficient.
    def evaluation(degree: int) -> Tensor:
        at_infinity = torch.zeros(1, degree, dtype=torch.float64)
        at_infinity[0, -1] = 1
        return torch.cat([finite**torch.arange(degree), at_infinity])

    interpolation = torch.linalg.inv(evaluation(size))
    return interpolation.T, evaluation(kernel), evaluation(output_tile).T


class WinogradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (3x3, stride 1, dilation 1, one group) computed with
    Winograd F(4x4, 3x3), for inference.

    Not built from configs: :func:`use_winograd` switches the class of
    existing convolutions to this one and calls :meth:`prepare`. Outputs are
    channels_last.
    """

    def prepare(self) -> None:
        """Transform the current weights (non-persistent buffers, so the
        state dict keeps the ``nn.Conv2d`` keys)."""
        input_transform, filter_transform, output_transform = \
            winograd_matrices()
        weight = self.weight.detach().to(torch.float64)
        size = input_transform.shape[0]
        # (tile position, in channels, out channels): one matrix per
        # position of the transformed 6x6 tile.
        transformed = torch.einsum('ik,oqkl,jl->ijqo', filter_transform,
                                   weight, filter_transform).reshape(
                                       size * size, *weight.shape[1::-1])
        dtype, device = self.weight.dtype, self.weight.device
        for name, value in (('weight', transformed),
                            ('input_transform',
                             torch.kron(input_transform, input_transform)),
                            ('output_transform',
                             torch.kron(output_transform, output_transform))):
            self.register_buffer(
                f'winograd_{name}',
                value.to(device, dtype).contiguous(),
                persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        tile = OUTPUT_TILE
        size = tile + 2
        rows, cols = -(-height // tile), -(-width // tile)
        # Zero padding: 1 for the convolution, the rest to fill the last
        # tiles; laid out (batch, height, width, channels) so each tile
        # position is a (tiles, channels) matrix.
        padded = x.new_zeros(batch, rows * tile + 2, cols * tile + 2, channels)
        padded[:, 1:height + 1, 1:width + 1] = x.permute(0, 2, 3, 1)
        stride_n, stride_h, stride_w, _ = padded.stride()
        tiles = padded.as_strided(
            (size, size, batch, rows, cols, channels),
            (stride_h, stride_w, stride_n, tile * stride_h, tile * stride_w,
             1)).reshape(size * size, -1)
        transformed = torch.mm(self.winograd_input_transform, tiles)
        products = torch.bmm(
            transformed.view(size * size, -1, channels), self.winograd_weight)
        out_channels = products.shape[-1]
        out = torch.mm(self.winograd_output_transform,
                       products.view(size * size,
                                     -1)).view(tile, tile, batch, rows, cols,
                                               out_channels)
        out = out.permute(2, 3, 0, 4, 1, 5).reshape(batch, rows * tile,
                                                    cols * tile, out_channels)
        out = out[:, :height, :width].permute(
            0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        if self.bias is not None:
            out += self.bias.view(1, -1, 1, 1)
        return out


def can_use_winograd(conv: nn.Module) -> bool:
    """A dense 3x3 convolution of stride 1 that keeps the spatial size."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.padding == (1, 1)
            and conv.padding_mode == 'zeros')


def use_winograd(model: nn.Module) -> int:
    """Switch every eligible convolution of ``model`` (in place) to
    :class:`WinogradConv2d`; returns how many were switched."""
    switched = 0
    for module in model.modules():
        if can_use_winograd(module):
            module.__class__ = WinogradConv2d
            module.prepare()
            switched += 1
    return switched
