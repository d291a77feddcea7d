"""mmseg's MiT with the LayerNorm eps of the original (NVlabs) MiT."""
from mmseg.models.backbones import MixVisionTransformer
from mmseg.registry import MODELS


@MODELS.register_module()
class NVMixVisionTransformer(MixVisionTransformer):
    """``MixVisionTransformer`` with the original MiT's LayerNorm eps.

    mmseg builds every LayerNorm of its MiT port from one ``norm_cfg``
    (eps 1e-6). The original MiT of `SegFormer
    <https://arxiv.org/abs/2105.15203>`_, which produced the ImageNet weights
    and which SSFormer's released models use, keeps PyTorch's default eps
    (1e-5) in the patch-embedding norms and the spatial-reduction norms of the
    attention. That difference alone moves SSFormer's logits by up to ~4e-4;
    with these two values the converted official models reproduce the
    official outputs to float32 rounding. Parameters and state-dict keys are
    those of ``MixVisionTransformer``.

    Args:
        patch_norm_eps (float): eps of the patch-embedding LayerNorms.
            Default: 1e-5.
        sr_norm_eps (float): eps of the LayerNorms after the spatial-reduction
            convolutions. Default: 1e-5.
        **kwargs: Arguments of ``MixVisionTransformer``; its ``norm_cfg``
            (default ``LN`` with eps 1e-6) still applies to the block and
            stage norms.
    """

    def __init__(self,
                 patch_norm_eps: float = 1e-5,
                 sr_norm_eps: float = 1e-5,
                 **kwargs):
        super().__init__(**kwargs)
        for patch_embed, blocks, _ in self.layers:
            patch_embed.norm.eps = patch_norm_eps
            for block in blocks:
                if block.attn.sr_ratio > 1:
                    block.attn.norm.eps = sr_norm_eps
