"""NVMixVisionTransformer: mmseg's MiT with the original LayerNorm eps."""
import torch
import torch.nn as nn
from mmseg.registry import MODELS

ARCH = dict(embed_dims=8, num_layers=[1, 2, 1, 1], num_heads=[1, 2, 3, 4])


def test_only_patch_and_reduction_norms_change():
    torch.manual_seed(0)
    ours = MODELS.build(dict(type='NVMixVisionTransformer', **ARCH)).eval()
    mmseg_mit = MODELS.build(dict(type='MixVisionTransformer', **ARCH)).eval()
    mmseg_mit.load_state_dict(ours.state_dict(), strict=True)

    eps = {
        name: module.eps
        for name, module in ours.named_modules()
        if isinstance(module, nn.LayerNorm)
    }
    patch = {n for n in eps if n.endswith('.0.norm') and n.count('.') == 3}
    reduction = {n for n in eps if n.endswith('.attn.norm')}
    assert len(patch) == 4 and len(reduction) == 4  # sr > 1 in stages 1-3
    assert all(eps[n] == 1e-5 for n in patch | reduction)
    assert all(v == 1e-6 for n, v in eps.items() if n not in patch | reduction)

    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not all(
            torch.equal(a, b) for a, b in zip(ours(x), mmseg_mit(x)))
        for name in patch | reduction:
            ours.get_submodule(name).eps = 1e-6
        assert all(torch.equal(a, b) for a, b in zip(ours(x), mmseg_mit(x)))
