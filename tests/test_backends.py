"""Inference backends: one object per runtime behind one interface, so a new
engine needs no change in PolypSegmenter."""
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ssformer_mmseg.apis import (BACKENDS, InferenceBackend, PolypSegmenter,
                                 PyTorchBackend, build_backend,
                                 register_backend)


class ConstantBackend(InferenceBackend):
    """A stand-in engine: the same logit everywhere."""

    def __init__(self, cfg, device, value):
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.device = device
        self.value = value
        self.seen = []

    @classmethod
    def create(cls,
               cfg,
               *,
               device='cpu',
               precision=None,
               throughput=False,
               model_file=None):
        return cls(cfg, device, float(model_file or 0))

    def logits(self, inputs, data_samples):
        self.seen.append(tuple(inputs.shape))
        return torch.full((inputs.shape[0], 1, *inputs.shape[2:]), self.value)


@pytest.fixture
def constant_backend():
    register_backend('constant')(ConstantBackend)
    yield
    BACKENDS.pop('constant')


def test_a_registered_backend_serves_the_segmenter(constant_backend,
                                                   tiny_config):
    cfg = tiny_config
    segmenter = PolypSegmenter(cfg, backend='constant', model_file='2.0')
    assert segmenter.backend == 'constant' and segmenter.model is None
    assert segmenter.session is None
    frames = [np.zeros((30, 50, 3), np.uint8), np.zeros((64, 20, 3), np.uint8)]
    probs = segmenter(frames)
    # The segmenter's own pre-processing (the config's 352x352 resize) ...
    assert segmenter.runtime.seen == [(2, 3, 352, 352)]
    # ... and post-processing (each frame's size, sigmoid, threshold).
    assert [p.shape for p in probs] == [(30, 50), (64, 20)]
    np.testing.assert_allclose(probs[0], 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    assert (segmenter.mask(probs[1]) == 255).all()


def test_onnx_file_is_a_deprecated_name_of_model_file(constant_backend,
                                                      tiny_config):
    with pytest.warns(
            DeprecationWarning,
            match=r'PolypSegmenter\(onnx_file=\.\.\.\) is '
            'deprecated and will be removed in ssformer-mmseg '
            '0.3.0; pass model_file=') as caught:
        segmenter = PolypSegmenter(
            tiny_config, backend='constant', onnx_file='2.0')
    assert caught[0].filename == __file__
    assert segmenter.runtime.value == 2.0
    with pytest.raises(ValueError, match='not both'):
        PolypSegmenter(
            tiny_config, backend='constant', onnx_file='1', model_file='2')


def test_a_backend_object_is_used_as_given(constant_backend, tiny_config):
    cfg = tiny_config
    backend = build_backend('constant', cfg, model_file='-3')
    segmenter = PolypSegmenter(cfg, backend=backend)
    assert segmenter.runtime is backend and segmenter.backend == 'constant'
    assert (segmenter.mask(segmenter([np.zeros((8, 8, 3),
                                               np.uint8)])[0]) == 0).all()


def test_unknown_backend_lists_the_known_ones(tiny_config):
    with pytest.raises(
            ValueError,
            match='unknown backend .*onnxruntime, '
            'openvino, pytorch'):
        PolypSegmenter(tiny_config, backend='tensorrt')


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_pytorch_backend_runs_what_mmseg_runs(mode, tiny_config):
    if mode == 'slide':
        tiny_config.model.test_cfg = dict(
            mode='slide', crop_size=(48, 48), stride=(32, 32))
    backend = build_backend('pytorch', tiny_config)
    assert isinstance(backend, PyTorchBackend)
    shape = (64, 64)
    sample = SegDataSample(
        metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
    inputs = torch.randn(1, 3, *shape)
    with torch.no_grad():
        expected = backend.model.inference(inputs, [sample.metainfo])
        got = backend.logits(inputs, [sample])
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_onnxruntime_backend_refuses_the_pytorch_fast_path(tiny_config):
    with pytest.raises(
            ValueError,
            match=r'^fast does not apply to backend onnxruntime \(its own '
            r'options: model_file\)$'):
        build_backend('onnxruntime', tiny_config, model_file='x.onnx', fast={})
    with pytest.raises(ValueError, match='needs a model file'):
        build_backend('onnxruntime', tiny_config)


def test_each_backend_declares_its_own_options():
    assert BACKENDS['pytorch'].options() == ('checkpoint', 'fast')
    for name in ('onnxruntime', 'openvino'):
        assert BACKENDS[name].options() == ('model_file', )
    assert ConstantBackend.options() == ('model_file', )


@pytest.mark.parametrize('name', ['pytorch', 'onnxruntime', 'openvino'])
def test_create_takes_options_by_keyword_only(name, tiny_config):
    with pytest.raises(TypeError, match='positional'):
        BACKENDS[name].create(tiny_config, 'cpu')


def test_misplaced_options_are_one_error_naming_them_all(tiny_config):
    with pytest.raises(
            ValueError,
            match=r'^checkpoint, fast do not apply to backend openvino'):
        build_backend(
            'openvino',
            tiny_config,
            model_file='m.xml',
            checkpoint='w.pth',
            fast={})
    with pytest.raises(
            ValueError, match='^model_file does not apply to backend pytorch'):
        build_backend('pytorch', tiny_config, model_file='m.onnx')


def test_a_checkpoint_an_engine_ignored_before_warns_and_is_dropped(
        constant_backend, tiny_config):
    with pytest.warns(
            DeprecationWarning,
            match=r'PolypSegmenter\(checkpoint=\.\.\.\) with backend '
            'constant, which does not read it, is deprecated and will be '
            'removed in ssformer-mmseg 0.3.0') as caught:
        segmenter = PolypSegmenter(
            tiny_config, 'weights.pth', backend='constant', model_file='1.5')
    assert caught[0].filename == __file__
    assert segmenter.runtime.value == 1.5
    # The fast path was never ignored: it stays an error.
    with pytest.raises(ValueError, match='^fast does not apply'):
        PolypSegmenter(
            tiny_config, backend='constant', model_file='1', fast={})


def _model_args(argv, checkpoint='-'):
    import argparse

    from ssformer_mmseg.cli import add_model_arguments
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    args.deployed, args.checkpoint = False, checkpoint
    return parser, args


@pytest.mark.parametrize(
    'argv,message',
    [(['--backend', 'openvino', '--model-file', 'm.xml', '--fast'
       ], '--fast does not apply to backend openvino'),
     (['--backend', 'onnxruntime', '--onnx', 'm.onnx', '--compile'
       ], '--compile does not apply to backend onnxruntime'),
     (['--model-file', 'm.onnx'], '--model-file does not apply to backend '
      'pytorch'),
     (['--backend', 'openvino'], '--backend openvino needs --model-file FILE')
     ],
    ids=['fast', 'compile', 'model-file', 'missing'])
def test_the_cli_refuses_what_a_backend_does_not_take(argv, message, capsys):
    from ssformer_mmseg.cli import check_model_arguments
    parser, args = _model_args(argv)
    with pytest.raises(SystemExit):
        check_model_arguments(parser, args)
    assert message in capsys.readouterr().err


def test_the_cli_gives_each_backend_its_own_options():
    from ssformer_mmseg.cli import _backend_options, check_model_arguments
    parser, args = _model_args(['--precision', 'bf16'], 'w.pth')
    check_model_arguments(parser, args)
    # --precision implies the fast path, as before.
    assert _backend_options(args) == dict(
        fast=dict(precision='bf16', compile=False), checkpoint='w.pth')
    parser, args = _model_args(
        ['--backend', 'openvino', '--onnx', 'm.onnx', '--precision', 'fp32'],
        'w.pth')
    check_model_arguments(parser, args)
    # The engine's weights are in its file: the checkpoint is not its.
    assert _backend_options(args) == dict(model_file='m.onnx')


def test_engines_is_a_deprecated_view_of_the_registry():
    from ssformer_mmseg import cli
    with pytest.warns(DeprecationWarning, match='deployable_backends'):
        assert cli.ENGINES == ('onnxruntime', 'openvino')
