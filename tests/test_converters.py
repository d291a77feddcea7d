"""Tests of the official SSFormer / NVlabs MiT checkpoint converters.

The forward comparisons use :mod:`official_ssformer_reference`, an
independent re-implementation of the official model, on random weights in
the official layout. Run with ``-rP`` to see the measured logit differences.
"""
import copy
import os
import os.path as osp
from typing import Dict, Iterator, List, Sequence

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine import Config
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import Tensor

import ssformer_mmseg  # noqa: F401  (compat shims before mmseg models)
# A helper module beside this file: pytest's (default) prepend import mode
# puts tests/ on sys.path for this test module.
from official_ssformer_reference import (make_official_state_dict, mit_forward,
                                         official_forward)
# yapf: disable
from ssformer_mmseg.checkpoint_converters import (CheckpointConversionError,
                                                  convert_mit,
                                                  convert_ssformer,
                                                  mit_to_official,
                                                  ssformer_to_official,
                                                  unwrap_state_dict)

# yapf: enable

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', '_base_', 'models')

S_DEPTHS = [3, 4, 6, 3]
L_DEPTHS = [3, 8, 27, 3]
# A tiny SSFormer for the fast tests: the converters infer everything from
# the keys, so the real widths are not needed there. Not conftest's shared
# tiny model (one block per stage): here stage 2 has two blocks, so block
# indices above 0 are converted too, and the official-layout state dicts
# and forwards below are made for these widths and heads.
TINY_DIMS = (8, 16, 24, 32)
TINY_HEADS = (1, 2, 3, 4)
TINY_DEPTHS = [1, 2, 1, 1]
TINY_CHANNELS = 16

# The target of the official-weights comparison, in logits.
LOGIT_TOLERANCE = 1e-4


def build_ssformer(variant: str = 's', tiny: bool = False) -> nn.Module:
    """Build the SSFormer ``EncoderDecoder`` of a config, eval mode."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, f'ssformer_{variant}.py'))
    cfg.model.backbone.init_cfg = None
    if tiny:
        cfg.model.backbone.update(
            embed_dims=TINY_DIMS[0],
            num_heads=list(TINY_HEADS),
            num_layers=TINY_DEPTHS)
        cfg.model.decode_head.update(
            in_channels=list(TINY_DIMS), channels=TINY_CHANNELS)
    return MODELS.build(cfg.model).eval()


def build_mit(dims: Sequence[int], heads: Sequence[int], depths: Sequence[int],
              **kwargs) -> nn.Module:
    """Build the MiT backbone of the SSFormer configs."""
    init_default_scope('mmseg')
    return MODELS.build(
        dict(
            type='NVMixVisionTransformer',
            embed_dims=dims[0],
            num_layers=list(depths),
            num_heads=list(heads),
            norm_cfg=dict(type='LN', eps=1e-6),
            **kwargs)).eval()


def tiny_official() -> Dict[str, Tensor]:
    return make_official_state_dict(
        TINY_DEPTHS, dims=TINY_DIMS, decoder_channels=TINY_CHANNELS, seed=3)


def nvlabs_mit(official: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """NVlabs ImageNet layout: no prefix, plus the classifier ``head``."""
    mit = {
        k[len('backbone.'):]: v
        for k, v in official.items() if k.startswith('backbone.')
    }
    dim = mit['norm4.weight'].shape[0]
    mit['head.weight'] = torch.randn(1000, dim)
    mit['head.bias'] = torch.randn(1000)
    return mit


def logits_at_input_size(model: nn.Module, x: Tensor) -> Tensor:
    """Our 1/4-scale logits upsampled as the official model does."""
    with torch.no_grad():
        logits = model(x, mode='tensor')
    return F.interpolate(
        logits, scale_factor=4, mode='bilinear', align_corners=True)


def randomise_(model: nn.Module, seed: int = 0) -> None:
    """Give every parameter and buffer a random, non-trivial value."""
    gen = torch.Generator().manual_seed(seed)

    def randn(tensor: Tensor) -> Tensor:
        return torch.randn(tensor.shape, generator=gen)

    with torch.no_grad():
        for module in model.modules():
            for name, tensor in module.named_parameters(recurse=False):
                if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                    tensor.copy_((name == 'weight') + 0.1 * randn(tensor))
                else:
                    fan_in = tensor[0].numel() if tensor.dim() > 1 else 100
                    tensor.copy_(randn(tensor) / fan_in**0.5)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(0.1 * randn(module.running_mean))
                module.running_var.copy_(
                    0.5 + torch.rand(module.num_features, generator=gen))
                module.num_batches_tracked.fill_(
                    int(torch.randint(1, 10000, (1, ), generator=gen)))


@pytest.fixture(scope='module')
def ssformer_s_official() -> Iterator[tuple]:
    """SSFormer-S with converted random official weights, and those."""
    official = make_official_state_dict(S_DEPTHS, seed=0)
    converted, dropped = convert_ssformer(official)
    assert all(k.startswith('decode_head.linear_fuse.') for k in dropped)
    model = build_ssformer('s')
    model.load_state_dict(converted, strict=True)
    yield model, official


# --------------------------------------------------------------- round trip


def test_round_trip_is_exact():
    """Ours -> official -> ours gives back the same tensors and outputs."""
    model = build_ssformer('s')
    randomise_(model)
    ours = model.state_dict()

    official = ssformer_to_official(ours)
    # Same keys and shapes as the official model (less its unused
    # linear_fuse), known independently of the converters.
    expected = make_official_state_dict(S_DEPTHS)
    expected = {
        k: v.shape
        for k, v in expected.items()
        if not k.startswith('decode_head.linear_fuse.')
    }
    assert {k: v.shape for k, v in official.items()} == expected

    back, dropped = convert_ssformer(official)
    assert dropped == []
    assert list(back) == list(ours)
    for key, tensor in ours.items():
        assert torch.equal(back[key], tensor), key
        assert back[key].dtype == tensor.dtype, key

    other = build_ssformer('s')
    other.load_state_dict(back, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(other(x, mode='tensor'), model(x, mode='tensor'))


def test_qkv_merge_and_linear_conv_reshapes():
    official = tiny_official()
    converted, _ = convert_ssformer(official)
    for stage, depth in enumerate(TINY_DEPTHS, 1):
        dim = TINY_DIMS[stage - 1]
        for block in range(depth):
            src = f'backbone.block{stage}.{block}'
            dst = f'backbone.layers.{stage - 1}.1.{block}'
            in_w = converted[f'{dst}.attn.attn.in_proj_weight']
            in_b = converted[f'{dst}.attn.attn.in_proj_bias']
            kv_w = official[f'{src}.attn.kv.weight']
            kv_b = official[f'{src}.attn.kv.bias']
            assert in_w.shape == (3 * dim, dim) and in_b.shape == (3 * dim, )
            # Rows of in_proj: q, then k (first half of kv), then v.
            assert torch.equal(in_w[:dim], official[f'{src}.attn.q.weight'])
            assert torch.equal(in_w[dim:2 * dim], kv_w[:dim])
            assert torch.equal(in_w[2 * dim:], kv_w[dim:])
            assert torch.equal(in_b[:dim], official[f'{src}.attn.q.bias'])
            assert torch.equal(in_b[dim:2 * dim], kv_b[:dim])
            assert torch.equal(in_b[2 * dim:], kv_b[dim:])
            for fc, layer in (('fc1', 0), ('fc2', 4)):
                linear = official[f'{src}.mlp.{fc}.weight']
                conv = converted[f'{dst}.ffn.layers.{layer}.weight']
                assert conv.shape == (*linear.shape, 1, 1)
                assert torch.equal(conv[:, :, 0, 0], linear)

    back = ssformer_to_official(converted)
    for key, tensor in back.items():
        assert tensor.shape == official[key].shape, key
        assert torch.equal(tensor, official[key]), key
    # The split q / kv must not be views into the stacked tensor.
    assert back['backbone.block1.0.attn.kv.weight'].untyped_storage().nbytes(
    ) == back['backbone.block1.0.attn.kv.weight'].numel() * 4


def test_stacked_qkv_matches_official_attention():
    """The merged projection computes the same q, k, v as q and kv."""
    official = tiny_official()
    converted, _ = convert_ssformer(official)
    dim = TINY_DIMS[1]
    attn = nn.MultiheadAttention(dim, TINY_HEADS[1], batch_first=True)
    attn.load_state_dict({
        k.rsplit('attn.attn.', 1)[1]: v
        for k, v in converted.items()
        if k.startswith('backbone.layers.1.1.0.attn.attn.')
    })
    x = torch.randn(2, 10, dim)
    q = F.linear(x, official['backbone.block2.0.attn.q.weight'],
                 official['backbone.block2.0.attn.q.bias'])
    k, v = F.linear(x, official['backbone.block2.0.attn.kv.weight'],
                    official['backbone.block2.0.attn.kv.bias']).chunk(2, -1)
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    torch.testing.assert_close(F.linear(x, w_q, b_q), q)
    torch.testing.assert_close(F.linear(x, w_k, b_k), k)
    torch.testing.assert_close(F.linear(x, w_v, b_v), v)


# ------------------------------------------------- official weights forward


def test_ssformer_s_matches_official_forward(ssformer_s_official):
    model, official = ssformer_s_official
    x = torch.randn(1, 3, 352, 352, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = official_forward(official, x, S_DEPTHS)
    ours = logits_at_input_size(model, x)
    assert ours.shape == reference.shape == (1, 1, 352, 352)
    diff = (ours - reference).abs().max().item()
    print(f'SSFormer-S 352x352, max|logit| '
          f'{reference.abs().max().item():.2f}: max|diff| {diff:.3g}')
    assert diff <= LOGIT_TOLERANCE


def test_conversion_is_exact_in_float64(ssformer_s_official):
    """In float64 nothing but rounding separates the two forwards."""
    model, official = ssformer_s_official
    model = copy.deepcopy(model).double()
    official = {
        k: v.double() if v.is_floating_point() else v
        for k, v in official.items()
    }
    x = torch.randn(1, 3, 128, 128, dtype=torch.float64)
    with torch.no_grad():
        reference = official_forward(official, x, S_DEPTHS)
    ours = logits_at_input_size(model, x)
    assert (ours - reference).abs().max().item() < 1e-9


def test_ssformer_l_matches_official_forward():
    official = make_official_state_dict(L_DEPTHS, seed=1)
    converted, _ = convert_ssformer(official)
    model = build_ssformer('l')
    model.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = official_forward(official, x)
    ours = logits_at_input_size(model, x)
    diff = (ours - reference).abs().max().item()
    print(f'SSFormer-L 96x96: max|diff| {diff:.3g}')
    assert diff <= LOGIT_TOLERANCE


# ---------------------------------------------------------------- strictness


def test_unexpected_key_raises_and_is_named():
    official = tiny_official()
    official['decode_head.linear_c5.proj.0.weight'] = torch.zeros(1)
    official['backbone.block1.0.attn.extra.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointConversionError) as info:
        convert_ssformer(official)
    message = str(info.value)
    assert 'backbone.block1.0.attn.extra.weight' in message
    assert 'decode_head.linear_c5.proj.0.weight' in message
    assert 'unexpected keys' in message


def test_missing_key_raises_and_is_named():
    official = tiny_official()
    del official['backbone.block2.1.attn.kv.bias']
    del official['decode_head.linear_fuse2.bn.running_var']
    with pytest.raises(CheckpointConversionError) as info:
        convert_ssformer(official)
    message = str(info.value)
    assert 'missing keys' in message
    assert 'backbone.block2.1.attn.kv.bias' in message
    assert 'decode_head.linear_fuse2.bn.running_var' in message


def test_missing_block_in_the_middle_raises():
    official = tiny_official()
    for key in [k for k in official if k.startswith('backbone.block2.0.')]:
        del official[key]
    with pytest.raises(
            CheckpointConversionError,
            match=r'backbone\.block2\.0\.norm1\.weight'):
        convert_ssformer(official)


def test_wrong_shape_raises():
    official = tiny_official()
    key = 'backbone.block1.0.mlp.fc1.weight'
    official[key] = official[key][:, :, None, None]
    with pytest.raises(CheckpointConversionError, match=key):
        convert_ssformer(official)


def test_reverse_conversion_is_strict():
    model_sd, _ = convert_ssformer(tiny_official())
    unexpected = dict(model_sd, **{'decode_head.extra.weight': torch.ones(1)})
    with pytest.raises(
            CheckpointConversionError, match=r'decode_head\.extra\.weight'):
        ssformer_to_official(unexpected)
    missing = dict(model_sd)
    del missing['backbone.layers.0.1.0.attn.sr.bias']
    with pytest.raises(
            CheckpointConversionError,
            match=r'backbone\.layers\.0\.1\.0\.attn\.sr\.bias'):
        ssformer_to_official(missing)


def test_unused_and_profiler_keys_are_dropped_and_reported():
    official = tiny_official()
    profiler = [
        'total_ops', 'total_params', 'backbone.block1.0.attn.total_ops',
        'decode_head.linear_c2.proj.total_params'
    ]
    for key in profiler:
        official[key] = torch.zeros(1, dtype=torch.float64)
    converted, dropped = convert_ssformer(official)
    linear_fuse = [
        k for k in official if k.startswith('decode_head.linear_fuse.')
    ]
    assert len(linear_fuse) == 6
    assert sorted(dropped) == sorted(linear_fuse + profiler)
    assert not any('total_' in k or 'linear_fuse' in k for k in converted)
    # linear_fuse1 etc. are used and must not be caught by the prefix.
    assert 'decode_head.fuse_convs.0.conv.weight' in converted


def test_wrapped_checkpoints_are_accepted():
    official = tiny_official()
    plain, _ = convert_ssformer(official)
    wrapped = [
        dict(state_dict=official, meta=dict(epoch=1)),
        dict(model=official),
        {f'module.{k}': v
         for k, v in official.items()},
    ]
    for checkpoint in wrapped:
        converted, _ = convert_ssformer(checkpoint)
        assert list(converted) == list(plain)
    with pytest.raises(CheckpointConversionError, match='not tensors'):
        unwrap_state_dict(dict(official, epoch=3))


def test_full_ssformer_given_to_convert_mit_is_refused():
    with pytest.raises(CheckpointConversionError, match='convert_ssformer'):
        convert_mit(tiny_official())


# ---------------------------------------------------------------- NVlabs MiT


def test_nvlabs_mit_loads_strictly_into_mmseg_mit():
    dims, heads, depths = (32, 64, 160, 256), (1, 2, 5, 8), [2, 2, 2, 2]
    official = make_official_state_dict(depths, dims=dims, seed=4)
    mit = nvlabs_mit(official)
    converted, dropped = convert_mit(mit)
    assert dropped == ['head.weight', 'head.bias']
    assert not any(k.startswith('backbone.') for k in converted)

    backbone = build_mit(dims, heads, depths)
    backbone.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        reference = mit_forward(mit, x, prefix='')
        ours = backbone(x)
    for feat, ref in zip(ours, reference):
        assert feat.shape == ref.shape
        torch.testing.assert_close(feat, ref, atol=1e-4, rtol=1e-4)

    # The 'backbone.'-prefixed form of the same weights converts the same.
    prefixed = {k: v for k, v in official.items() if k.startswith('backbone.')}
    converted_prefixed, dropped = convert_mit(prefixed)
    assert dropped == []
    assert list(converted_prefixed) == list(converted)

    back = mit_to_official(converted)
    assert set(back) == set(mit) - {'head.weight', 'head.bias'}
    assert all(torch.equal(back[k], mit[k]) for k in back)


def test_converted_mit_works_as_pretrained_init_cfg(tmp_path):
    dims, heads, depths = TINY_DIMS, TINY_HEADS, TINY_DEPTHS
    converted, _ = convert_mit(nvlabs_mit(tiny_official()))
    path = str(tmp_path / 'mit.pth')
    torch.save(converted, path)
    init_cfg = dict(type='Pretrained', checkpoint=path)
    backbone = build_mit(dims, heads, depths, init_cfg=init_cfg)
    # What backbone.init_weights() runs for this init_cfg, minus the
    # parameter-by-parameter init report it logs.
    PretrainedInit(checkpoint=path)(backbone)
    for key, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, converted[key]), key


# ----------------------------------------------------------------------- CLI


@pytest.fixture(scope='module')
def run_script(run_tool):
    """``run_script(name, args, cwd)``: run a converter script like a user
    of a clone would; its stdout."""
    env = dict(os.environ)
    # Nothing on the path: the script must find the package by itself.
    env.pop('PYTHONPATH', None)

    def run(name: str, args: List[str], cwd: str) -> str:
        result = run_tool(
            osp.join(REPO_ROOT, 'tools', 'model_converters', name),
            *args,
            cwd=cwd,
            env=env,
            timeout=120)
        assert result.code == 0, result.stderr
        return result.stdout

    return run


def test_cli_help(run_script, tmp_path):
    for name in ('ssformer2mmseg.py', 'mit2mmseg.py'):
        out = run_script(name, ['--help'], str(tmp_path))
        assert 'usage:' in out and 'src' in out and 'dst' in out


def test_ssformer2mmseg_cli(run_script, tmp_path):
    from mmengine.runner import load_checkpoint

    official = tiny_official()
    official['decode_head.linear_c1.total_ops'] = torch.zeros(1)
    src, dst = tmp_path / 'ssformer_official.pth', tmp_path / 'converted.pth'
    torch.save(official, src)
    out = run_script('ssformer2mmseg.py', [str(src), str(dst)], str(tmp_path))
    assert 'decode_head.linear_fuse.conv.weight' in out
    assert 'decode_head.linear_c1.total_ops' in out
    expected, dropped = convert_ssformer(official)
    assert f'converted {len(expected)} tensors' in out

    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert saved['meta']['dropped_keys'] == dropped
    # mmseg's init_model / MMSegInferencer take the polyp names from here.
    assert saved['meta']['dataset_meta'] == dict(
        classes=('background', 'polyp'), palette=[[0, 0, 0], [255, 64, 64]])
    model = build_ssformer('s', tiny=True)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        reference = official_forward(official, x, num_heads=TINY_HEADS)
    ours = logits_at_input_size(model, x)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_mit2mmseg_cli(run_script, tmp_path):
    mit = nvlabs_mit(tiny_official())
    src, dst = tmp_path / 'mit_b_tiny.pth', tmp_path / 'mit_mmseg.pth'
    torch.save(mit, src)
    out = run_script('mit2mmseg.py', [str(src), str(dst)], str(tmp_path))
    assert 'head.weight' in out and 'head.bias' in out
    saved = torch.load(dst, map_location='cpu', weights_only=True)
    assert f'converted {len(saved)} tensors' in out
    build_mit(TINY_DIMS, TINY_HEADS, TINY_DEPTHS).load_state_dict(
        saved, strict=True)
