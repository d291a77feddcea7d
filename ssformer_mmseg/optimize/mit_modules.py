"""mmseg's MiT attention and feed-forward blocks computed the fast way.

:func:`~ssformer_mmseg.optimize.optimize_for_inference` switches the class
of existing ``EfficientMultiheadAttention`` and ``MixFFN`` modules to these,
keeping their parameters and state-dict keys. Inference only (no dropout).
"""
from typing import Optional

import torch.nn.functional as F
from mmseg.models.backbones.mit import EfficientMultiheadAttention, MixFFN
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
from torch import Tensor

from ..ops import fused_ops


class SDPAEfficientMultiheadAttention(EfficientMultiheadAttention):
    """mmseg's MiT attention computed with ``scaled_dot_product_attention``.

    Not built from configs: :func:`optimize_for_inference` switches the class
    of existing ``EfficientMultiheadAttention`` modules to this one, keeping
    their parameters. Inference only (no attention dropout).
    """

    def forward(self,
                x: Tensor,
                hw_shape: tuple,
                identity: Optional[Tensor] = None) -> Tensor:
        if identity is None:
            identity = x
        x_kv = x
        if self.sr_ratio > 1:
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        attn = self.attn
        dims = attn.embed_dim
        weight, bias = attn.in_proj_weight, attn.in_proj_bias
        q = fused_ops.linear(x, weight[:dims],
                             None if bias is None else bias[:dims])
        kv = fused_ops.linear(x_kv, weight[dims:],
                              None if bias is None else bias[dims:])
        batch, num_q, _ = q.shape
        heads = attn.num_heads
        q = q.view(batch, num_q, heads, -1).transpose(1, 2)
        k, v = kv.view(batch, -1, 2, heads,
                       dims // heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, num_q, dims)
        return fused_ops.linear(
            out, attn.out_proj.weight, attn.out_proj.bias, residual=identity)


class TokenMixFFN(MixFFN):
    """mmseg's MiT feed-forward block computed on tokens.

    mmseg runs the two 1x1 convolutions as ``Conv2d`` on (N, C, H, W) views
    of the tokens; here they are ``F.linear`` on the (N, L, C) tokens with
    the same weights (several times faster on the CPU for the narrow first
    stages), the depthwise convolution and GELU run as one call, and so do
    the last projection and the residual add (see :mod:`.fused_ops`).
    Not built from configs: :func:`optimize_for_inference` switches the class
    of existing ``MixFFN`` modules to this one. Inference only (no dropout).
    """

    def forward(self,
                x: Tensor,
                hw_shape: tuple,
                identity: Optional[Tensor] = None) -> Tensor:
        expand, depthwise, activate, _, project, _ = self.layers
        hidden = fused_ops.linear(x, expand.weight.flatten(1), expand.bias)
        # (N, L, C) tokens are (N, H, W, C) memory: a channels_last view.
        hidden = fused_ops.conv2d(
            nlc_to_nchw(hidden, hw_shape),
            depthwise.weight,
            depthwise.bias,
            padding=depthwise.padding[0],
            groups=depthwise.groups,
            activation=activate)
        return fused_ops.linear(
            nchw_to_nlc(hidden),
            project.weight.flatten(1),
            project.bias,
            residual=x if identity is None else identity)
