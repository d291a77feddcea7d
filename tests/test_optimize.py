"""The fast paths give the eager model's outputs (within their tolerance).

Speed is measured by tools/benchmark.py, never asserted here.
"""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.backbones.mit import EfficientMultiheadAttention, MixFFN
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from conftest import build_model
from ssformer_mmseg import cpu_features
from ssformer_mmseg.engine import AutocastOptimWrapper, ChannelsLastHook
from ssformer_mmseg.models import PLDHead
from ssformer_mmseg.models.decode_heads.folded_pld_head import FoldedPLDHead
from ssformer_mmseg.ops.winograd import WinogradConv2d
from ssformer_mmseg.optimize import optimize_for_inference
from ssformer_mmseg.optimize.mit_modules import (
    SDPAEfficientMultiheadAttention, TokenMixFFN)

# The fast-path tests build the shared tiny model with 16 head channels
# (8 there), as they did before it was shared: the same weights, outputs and
# margins to their tolerances as before.
HEAD_CHANNELS = 16


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """BatchNorm statistics and affine weights far from the identity, so a
    wrong fold cannot pass."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator))
            module.running_var.copy_(
                torch.rand(size, generator=generator) * 2 + 0.1)
            module.weight.data.copy_(
                torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator))


@pytest.fixture(scope='module')
def tiny_model(make_tiny_config):
    """``tiny_model(**head)``: the tiny SSFormer-S (16 head channels, then
    ``head`` in the decode head), seeded, eval mode, randomized norms."""

    def build(**head):
        cfg = make_tiny_config(channels=HEAD_CHANNELS, **head)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        randomize_norms(model)
        return model

    return build


@pytest.mark.parametrize('config',
                         ['ssformer_s_kvasir.py', 'ssformer_l_kvasir.py'])
@pytest.mark.parametrize('channels_last', [True, False])
def test_fp32_logits_match_eager(config, channels_last):
    torch.manual_seed(0)
    model = build_model(config).eval()
    randomize_norms(model)
    inputs = torch.randn(2, 3, 128, 160)
    fast = optimize_for_inference(model, 'fp32', channels_last=channels_last)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
    assert logits.dtype == torch.float32
    assert logits.shape == expected.shape
    assert (logits - expected).abs().max().item() <= 1e-4
    assert expected.std() > 0.1  # the comparison is not of constants


def test_original_model_is_not_modified(tiny_model):
    model = tiny_model()
    fast = optimize_for_inference(model)
    assert type(model.decode_head) is PLDHead
    assert type(fast.decode_head) is FoldedPLDHead
    attentions = [
        m for m in model.modules()
        if isinstance(m, EfficientMultiheadAttention)
    ]
    assert attentions and all(
        type(m) is EfficientMultiheadAttention for m in attentions)
    assert all(
        type(m) is SDPAEfficientMultiheadAttention for m in fast.modules()
        if isinstance(m, EfficientMultiheadAttention))
    assert all(
        type(m) is TokenMixFFN for m in fast.modules()
        if isinstance(m, MixFFN))
    # Winograd for the 8 Local-Emphasis 3x3 convolutions (fp32 on the CPU).
    assert sum(type(m) is WinogradConv2d for m in fast.modules()) == 8
    assert not any(
        isinstance(m, (TokenMixFFN, WinogradConv2d)) for m in model.modules())
    bf16 = optimize_for_inference(model, 'bf16')
    assert not any(isinstance(m, WinogradConv2d) for m in bf16.modules())
    # Layers autocast runs in bf16 keep bf16 weights (no per-call casts);
    # normalisation stays fp32, as autocast computes it.
    patch_embed, blocks, norm = bf16.backbone.layers[0]
    assert blocks[0].ffn.layers[0].weight.dtype == torch.bfloat16
    assert blocks[0].attn.attn.in_proj_weight.dtype == torch.bfloat16
    assert patch_embed.projection.weight.dtype == torch.bfloat16
    assert norm.weight.dtype == torch.float32
    assert model.backbone.layers[0][0].projection.weight.dtype == \
        torch.float32
    assert 'extract_feat' not in vars(model)
    assert not model.backbone.layers[0][0].projection.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert fast.inference_options == dict(
        precision='fp32', channels_last=True, compile=False)
    # Same parameters, same keys: checkpoints load into either.
    assert fast.state_dict().keys() == model.state_dict().keys()
    # The folded weights are buffers: they follow the model across devices
    # and dtypes.
    assert fast.decode_head.folded_stage_0.dtype == torch.float32
    assert fast.double().decode_head.folded_stage_0.dtype == torch.float64


@pytest.mark.parametrize('sr_ratio,qkv_bias', [(1, True), (2, True),
                                               (2, False)])
def test_sdpa_attention_matches_mmseg(sr_ratio, qkv_bias):
    torch.manual_seed(0)
    attention = EfficientMultiheadAttention(
        embed_dims=32, num_heads=4, sr_ratio=sr_ratio,
        qkv_bias=qkv_bias).eval()
    x = torch.randn(2, 12 * 10, 32)
    with torch.no_grad():
        expected = attention(x, (12, 10))
        attention.__class__ = SDPAEfficientMultiheadAttention
        out = attention(x, (12, 10))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('head,folded', [
    (dict(), True),
    (dict(norm_cfg=None), True),
    (dict(in_channels=[16, 40, 64], in_index=[1, 2, 3]), True),
    (dict(norm_cfg=dict(type='GN', num_groups=4)), False),
])
def test_pld_fold_matches_and_is_skipped_when_it_cannot_apply(
        tiny_model, head, folded):
    model = tiny_model(**head)
    fast = optimize_for_inference(model)
    assert (type(fast.decode_head) is FoldedPLDHead) == folded
    inputs = torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
    assert (logits - expected).abs().max().item() <= 1e-5


def data_samples(batch: int, shape: tuple) -> list:
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.set_metainfo(
            dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                padding_size=[0, 0, 0, 0]))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, *shape)))
        samples.append(sample)
    return samples


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_predict_keeps_mmseg_semantics(tiny_model, mode):
    model = tiny_model()
    if mode == 'slide':
        from mmengine.config import ConfigDict
        model.test_cfg = ConfigDict(
            mode='slide', crop_size=(64, 64), stride=(48, 48))
    fast = optimize_for_inference(model)
    inputs = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = model.predict(inputs, data_samples(2, (96, 96)))
        results = fast.predict(inputs, data_samples(2, (96, 96)))
    for result, reference in zip(results, expected):
        torch.testing.assert_close(
            result.seg_logits.data,
            reference.seg_logits.data,
            atol=1e-4,
            rtol=0)
        assert torch.equal(result.pred_sem_seg.data,
                           reference.pred_sem_seg.data)


def test_bf16_warns_on_cpus_without_native_bf16(tiny_model, monkeypatch):
    """There bf16 is emulated: slower than fp32, so the user is told."""
    monkeypatch.setattr(cpu_features, 'onednn_bf16_supported', lambda: False)
    model = tiny_model()
    with pytest.warns(UserWarning, match='without native bf16'):
        fast = optimize_for_inference(model, 'bf16')
    with torch.no_grad():
        assert fast(torch.randn(1, 3, 64, 64), mode='tensor').dtype == \
            torch.float32


def test_bf16_is_close_and_returns_float32():
    """bf16 keeps 8 mantissa bits: close, not equal (the accuracy cost on
    real test sets is measured in the README)."""
    torch.manual_seed(0)
    model = build_model('ssformer_s_kvasir.py').eval()
    fast = optimize_for_inference(model, 'bf16')
    inputs = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
        with torch.autocast('cpu', dtype=torch.bfloat16):
            plain_bf16 = model(inputs, mode='tensor').float()
    assert logits.dtype == torch.float32
    error = (logits - expected).abs()
    assert 0 < error.mean() < 0.05 * expected.std()
    assert error.max() < 0.1 * (expected.max() - expected.min())
    # The rewrites add nothing to the error of bf16 itself.
    assert error.mean() < 1.5 * (plain_bf16 - expected).abs().mean()


def test_bad_precisions_are_refused(tiny_model):
    model = tiny_model()
    with pytest.raises(ValueError, match='fp16 autocast is for CUDA'):
        optimize_for_inference(model, 'fp16')
    with pytest.raises(ValueError, match='precision must be one of'):
        optimize_for_inference(model, 'int8')


@pytest.mark.slow  # torch.compile's first compilation
def test_compiled_fp32_matches_eager(tiny_model):
    model = tiny_model()
    fast = optimize_for_inference(model, 'fp32', compile=True)
    inputs = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
    assert (logits - expected).abs().max().item() <= 1e-4


def test_polyp_segmenter_fast_option(make_tiny_config, tmp_path):
    from ssformer_mmseg.apis import PolypSegmenter
    cfg = make_tiny_config(channels=HEAD_CHANNELS)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    randomize_norms(model)
    path = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    frames = [
        np.random.default_rng(i).integers(0, 255, (60, 80, 3), dtype=np.uint8)
        for i in range(2)
    ]
    plain = PolypSegmenter(cfg, path)(frames)
    fast = PolypSegmenter(cfg, path, fast=dict(precision='fp32'))
    assert fast.model.inference_options['precision'] == 'fp32'
    for a, b in zip(plain, fast(frames)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def training_losses(model, steps: int, fast: bool) -> list:
    """Losses of ``steps`` AdamW steps on fixed batches."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fast)
    if fast:
        wrapper = AutocastOptimWrapper(optimizer=optimizer)
        ChannelsLastHook().before_train(SimpleNamespace(model=model))
    else:
        from mmengine.optim import OptimWrapper
        wrapper = OptimWrapper(optimizer=optimizer)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        inputs = torch.randn(2, 3, 64, 64, generator=generator)
        samples = data_samples(2, (64, 64))
        with wrapper.optim_context(model):
            parsed, _ = model.parse_losses(model(inputs, samples, mode='loss'))
        wrapper.update_params(parsed)
        losses.append(parsed.item())
    if fast:
        assert model.backbone.layers[0][0].projection.weight.is_contiguous(
            memory_format=torch.channels_last)
    return losses


@pytest.mark.slow
def test_fast_training_follows_the_fp32_loss_curve(tiny_model):
    torch.manual_seed(0)
    model = tiny_model()
    eager = training_losses(model, 8, fast=False)
    fast = training_losses(model, 8, fast=True)
    assert eager[-1] < eager[0]  # it learns
    np.testing.assert_allclose(fast, eager, rtol=0.03)


def test_autocast_wrapper_warns_once_without_native_bf16(monkeypatch):
    from ssformer_mmseg.engine import optim_wrapper
    monkeypatch.setattr(cpu_features, 'onednn_bf16_supported', lambda: False)
    logged = []
    monkeypatch.setattr(optim_wrapper, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    model = torch.nn.Linear(2, 2)
    wrapper = AutocastOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    for _ in range(3):
        with wrapper.optim_context(model):
            assert model(torch.ones(1, 2)).dtype == torch.bfloat16
    assert len(logged) == 1 and 'without native bf16' in logged[0]


def test_autocast_wrapper_refuses_fp16():
    with pytest.raises(ValueError, match='loss scaling'):
        AutocastOptimWrapper(
            optimizer=torch.optim.SGD([torch.nn.Parameter(torch.ones(1))],
                                      lr=0.1),
            dtype='float16')


@pytest.mark.slow
def test_test_tool_fast_gives_the_same_scores(make_kvasir_like, tiny_config,
                                              tiny_cli_options, run_tool,
                                              tmp_path):
    """tools/test.py --fast swaps in the optimized model for the test loop
    and reports the same metrics (fp32)."""
    data = tmp_path / 'data'
    make_kvasir_like(data, num_train=1, num_test=3)
    # The shared tiny model (8 head channels): the one the tool builds from
    # the tiny --cfg-options.
    torch.manual_seed(0)
    model = MODELS.build(tiny_config.model)
    randomize_norms(model)
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    scores = []
    for extra in ([], ['--fast']):
        result = run_tool('tools/test.py', 'configs/ssformer_s_kvasir.py',
                          checkpoint, '--work-dir', str(tmp_path / 'work'),
                          *extra, '--cfg-options', f'data_root={data}',
                          *tiny_cli_options, 'test_dataloader.num_workers=0',
                          'test_dataloader.persistent_workers=False')
        log = result.output
        assert result.code == 0, log[-3000:]
        line = [row for row in log.splitlines() if 'Kvasir/meanDic' in row][-1]
        scores.append(line.split('Kvasir/meanDic:')[1].split()[0])
        if extra:
            assert "fast inference: {'precision': 'fp32'" in log
    assert scores[0] == scores[1]
