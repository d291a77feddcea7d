"""The inference-time form of :class:`PLDHead`: BatchNorm folded into the
fuse convolutions, each fuse's 1x1 convolution moved before upsampling.

Each Stepwise-Feature-Aggregation fuse is a 1x1 convolution on
``cat(running, stage)`` followed by BatchNorm and ReLU. In eval mode the
BatchNorm is folded into the convolution, and since a 1x1 convolution and
bilinear resizing (``align_corners=False``: convex weights) commute, each
half of the fuse is applied *before* its input is upsampled, at the
stage's own resolution, and the halves are added instead of concatenated.
Same function, fewer multiply-adds at the 1/4 scale. Used by
:func:`~ssformer_mmseg.optimize.optimize_for_inference`; not registered,
never built from configs.
"""
import torch
from mmseg.models.utils import resize
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...ops import fused_ops
from .pld_head import PLDHead


class FoldedPLDHead(PLDHead):
    """:class:`PLDHead` with BatchNorm folded into the fuse convolutions and
    each fuse split so its 1x1 convolution runs before upsampling.

    Not built from configs:
    :func:`~ssformer_mmseg.optimize.optimize_for_inference` switches the
    class of an eval-mode ``PLDHead`` to this one and calls :meth:`fold`.
    """

    def fold(self) -> None:
        """Precompute the folded fuse weights from the current parameters
        (as non-persistent buffers: they follow ``.to()``, and state-dict
        keys stay those of ``PLDHead``)."""
        for idx, fuse in enumerate(self.fuse_convs):
            weight = fuse.conv.weight.detach().flatten(1)
            bias = fuse.conv.bias.detach() if fuse.conv.bias is not None \
                else weight.new_zeros(weight.shape[0])
            if fuse.with_norm:
                norm = fuse.norm
                scale = norm.weight.detach() / torch.sqrt(norm.running_var +
                                                          norm.eps)
                weight = weight * scale[:, None]
                bias = (bias - norm.running_mean) * scale + norm.bias.detach()
            running, stage = weight.split(self.channels, dim=1)
            for name, value in (('running', running[..., None, None]),
                                ('stage', stage[..., None,
                                                None]), ('bias', bias)):
                self.register_buffer(
                    f'folded_{name}_{idx}',
                    value.contiguous(),
                    persistent=False)

    def forward(self, inputs: list) -> Tensor:
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        emphasised = [
            local_emphasis(x)
            for local_emphasis, x in zip(self.local_emphasis, inputs)
        ]
        out = emphasised[-1]
        for idx in range(len(inputs) - 2, -1, -1):
            running, stage, bias = (
                getattr(self, f'folded_{name}_{idx}')
                for name in ('running', 'stage', 'bias'))
            fuse = self.fuse_convs[idx]
            activate = fuse.activate if fuse.with_activation else None
            stage_term = self._at_size(
                fused_ops.conv2d(emphasised[idx], stage, bias), size)
            if out.shape[2:] == size:
                out = fused_ops.conv2d(
                    out, running, activation=activate, residual=stage_term)
            else:
                # Still at a deeper stage's resolution: convolve first.
                out = self._at_size(fused_ops.conv2d(out, running),
                                    size) + stage_term
                if activate is not None:
                    out = activate(out)
        return self.cls_seg(out)

    def _at_size(self, x: Tensor, size: torch.Size) -> Tensor:
        if x.shape[2:] == size:
            return x
        return resize(
            x, size=size, mode=self.interpolate_mode, align_corners=False)


def can_fold(head: PLDHead) -> bool:
    """Each fuse is a 1x1 conv, then BatchNorm (or no norm), then the
    activation (GroupNorm, say, cannot be folded)."""
    return all(fuse.order == ('conv', 'norm', 'act') and (
        not fuse.with_norm or isinstance(fuse.norm, _BatchNorm))
               and fuse.conv.kernel_size == (1, 1) for fuse in head.fuse_convs)
