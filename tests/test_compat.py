"""One test group per workaround of ssformer_mmseg.compat."""
import dataclasses
import os
import os.path as osp
import pickle
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import REPO_ROOT
from ssformer_mmseg import compat, stack

FULL_MMCV = compat.mmcv_has_compiled_ops()


@pytest.fixture(scope='module')
def run_python(run_tool):
    """``run_python(code, **env)``: run ``code`` in a fresh interpreter from
    the repository root, with ``env`` added to the environment (a
    :class:`conftest.ToolRun`)."""

    def run(code: str, **env: str):
        result = run_tool(
            '-c',
            textwrap.dedent(code),
            env=dict(os.environ, PYTHONPATH=REPO_ROOT, **env))
        # onedl-mmsegmentation 1.4 prints this on stdout at every import of
        # mmseg.datasets when its optional onedl package is absent.
        return dataclasses.replace(
            result,
            stdout=''.join(
                line for line in result.stdout.splitlines(keepends=True)
                if line.strip() != compat.FORK_IMPORT_NOTICE))

    return run


#: The distribution that installed mmseg: upstream or a fork.
MMSEG_DISTRIBUTION = stack.providers(('mmseg', ))['mmseg'][0].split()[0]

# 1. mmcv without compiled ops ------------------------------------------------


@pytest.mark.skipif(FULL_MMCV, reason='needs mmcv-lite (no compiled ops)')
@pytest.mark.slow  # three fresh interpreters
def test_mmseg_needs_the_fallback_and_imports_with_it(run_python):
    # Without the interpreter-start hook of the installed package, mmseg
    # alone cannot import its models on mmcv-lite ...
    bare = run_python(
        'import mmseg.models', SSFORMER_MMSEG_NO_STARTUP_HOOK='1')
    if MMSEG_DISTRIBUTION == 'mmsegmentation':
        assert bare.code != 0 and 'mmcv._ext' in bare.stderr
    else:  # onedl-mmsegmentation guards every mmcv.ops import itself
        assert bare.code == 0, bare.stderr
    # ... with it, it can, without importing ssformer_mmseg (which mmseg's
    # own tools do only later, through a config's custom_imports).
    hooked = run_python("""
        import importlib.util
        import sys
        # A mere probe does not use the hook up.
        assert importlib.util.find_spec('mmcv.ops') is not None
        import mmcv.ops
        import mmseg.models
        print(mmcv.ops.IS_SSFORMER_FALLBACK, 'ssformer_mmseg' in sys.modules)
    """)
    assert hooked.code == 0, hooked.stderr
    assert hooked.stdout.split() == ['True', 'False']
    fixed = run_python("""
        import ssformer_mmseg
        import mmseg.models, mmseg.datasets, mmseg.apis
        from mmseg.apis import MMSegInferencer, inference_model, init_model
        print('ok')
    """)
    assert fixed.code == 0, fixed.stderr
    assert fixed.stdout.strip() == 'ok'


@pytest.mark.skipif(FULL_MMCV, reason='needs mmcv-lite (no compiled ops)')
def test_missing_ops_raise_a_clear_error():
    import mmcv.ops
    assert mmcv.ops.IS_SSFORMER_FALLBACK
    with pytest.raises(
            ModuleNotFoundError, match=r'mmcv\.ops\.nms .*full mmcv'):
        from mmcv.ops import nms  # noqa: F401
    with pytest.raises(compat.MissingMMCVOpError, match='sigmoid_focal_loss'):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1, 1), torch.zeros(1).long())
    # Dunder look-ups (import machinery, inspect, pickle) see a plain module.
    assert not hasattr(mmcv.ops, '__path__')


@pytest.mark.skipif(FULL_MMCV, reason='needs mmcv-lite (no compiled ops)')
def test_mmseg_guards_take_their_fallback_branch():
    from mmseg.models.decode_heads import cc_head, point_head, psa_head
    from mmseg.registry import MODELS
    assert cc_head.CrissCrossAttention is None
    assert psa_head.PSAMask is None
    assert point_head.point_sample is compat.point_sample
    # mmseg's message names mmcv-full, onedl-mmsegmentation's onedl-mmcv.
    with pytest.raises(RuntimeError, match='mmcv-full|onedl-mmcv'):
        MODELS.build(
            dict(type='CCHead', in_channels=8, channels=8, num_classes=2))


def test_point_sample_reads_pixel_centres_exactly():
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    ys, xs = torch.meshgrid(torch.arange(4), torch.arange(5), indexing='ij')
    points = torch.stack([(xs + 0.5) / 5, (ys + 0.5) / 4], -1)
    points = points.view(1, -1, 2).expand(2, -1, -1)
    out = compat.point_sample(feat, points)
    assert out.shape == (2, 3, 20)
    assert torch.equal(out, feat.flatten(2))
    grid = compat.point_sample(feat, points.view(2, 4, 5, 2))
    assert torch.equal(grid, feat)


def test_point_sample_interpolates_bilinearly():
    feat = torch.tensor([[[[0., 10.], [20., 30.]]]])
    # Halfway between the four pixel centres.
    out = compat.point_sample(feat, torch.tensor([[[0.5, 0.5]]]))
    assert out.item() == pytest.approx(15.0)
    out = compat.point_sample(
        feat, torch.tensor([[[0.0, 0.0]]]), align_corners=True)
    assert out.item() == pytest.approx(0.0)


@pytest.mark.skipif(not FULL_MMCV, reason='needs full mmcv')
def test_full_mmcv_is_left_alone_and_matches_our_point_sample():
    import mmcv.ops
    assert not getattr(mmcv.ops, 'IS_SSFORMER_FALLBACK', False)
    assert not compat.install_mmcv_ops_fallback()
    feat, points = torch.randn(2, 3, 7, 9), torch.rand(2, 11, 2)
    assert torch.allclose(
        mmcv.ops.point_sample(feat, points), compat.point_sample(feat, points))


def test_nothing_replaced_when_compiled_ops_exist(monkeypatch):
    sentinel = object()
    monkeypatch.setattr(compat, 'mmcv_has_compiled_ops', lambda: True)
    monkeypatch.setitem(sys.modules, 'mmcv.ops', sentinel)
    assert compat.install_mmcv_ops_fallback() is False
    assert sys.modules['mmcv.ops'] is sentinel


# 2. Runner checkpoints under torch.load(weights_only=True) ------------------


class TinyModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)


def build_runner(work_dir, max_iters, **kwargs):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    dataset = [dict(inputs=torch.randn(2)) for _ in range(8)]
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=2)
        ],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        randomness=dict(seed=0),
        default_scope='mmseg',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    build_runner(work_dir, max_iters=2).train()
    return work_dir / 'iter_2.pth'


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    from mmengine.logging import HistoryBuffer
    ckpt = torch.load(runner_checkpoint, weights_only=True)
    scalars = ckpt['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert scalars['train/loss'].mean() > 0
    assert ckpt['meta']['iter'] == 2


def test_runner_checkpoint_needs_the_allow_list(runner_checkpoint, run_python):
    bare = run_python(f'import torch; torch.load({str(runner_checkpoint)!r})')
    assert bare.code != 0 and 'HistoryBuffer' in bare.stderr


def test_runner_checkpoint_loads_in_a_fresh_process(runner_checkpoint,
                                                    run_python):
    # No HistoryBuffer exists yet there, unlike in the process that trained.
    fresh = run_python(f"""
        import ssformer_mmseg, torch
        ckpt = torch.load({str(runner_checkpoint)!r})
        print(ckpt['message_hub']['log_scalars']['train/loss'].mean() > 0)
    """)
    assert fresh.code == 0, fresh.stderr
    assert fresh.stdout.strip() == 'True'


def test_runner_resume_and_load_from(runner_checkpoint, tmp_path):
    runner = build_runner(
        tmp_path / 'resumed',
        max_iters=4,
        resume=True,
        load_from=str(runner_checkpoint))
    runner.train()
    assert runner.iter == 4
    from mmengine.runner import load_checkpoint
    model = TinyModel()
    load_checkpoint(
        model,
        str(tmp_path / 'resumed' / 'iter_4.pth'),
        map_location='cpu',
        strict=True)


def test_inference_api_loads_runner_checkpoint(runner_checkpoint,
                                               make_tiny_config, tmp_path):
    from mmseg.apis import init_model
    cfg = make_tiny_config('_base_/models/ssformer_s.py')
    trained = init_model(cfg, device='cpu')
    # A Runner checkpoint of this model: its message hub, meta and weights.
    checkpoint = torch.load(runner_checkpoint)
    checkpoint['state_dict'] = trained.state_dict()
    path = tmp_path / 'ssformer_runner.pth'
    torch.save(checkpoint, path)
    loaded = init_model(cfg, str(path), device='cpu')
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_plain_state_dict_loads(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save(TinyModel().state_dict(), path)
    assert set(torch.load(path)) == {'linear.weight', 'linear.bias'}


class ReachesAttribute:
    """A payload using getattr, the one builtin Runner checkpoints need."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_checkpoint_with_foreign_global_is_refused(write_hostile_checkpoint,
                                                   tmp_path):
    from mmengine.runner import load_checkpoint
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    write_hostile_checkpoint(path, marker)
    with pytest.raises(pickle.UnpicklingError, match=r'\bsystem\b') as info:
        load_checkpoint(TinyModel(), str(path), map_location='cpu')
    assert os.system.__module__ in str(info.value)
    assert not marker.exists()


def test_a_loader_that_retries_unsafely_is_replaced(write_hostile_checkpoint,
                                                    tmp_path, monkeypatch):
    # onedl-mmengine 0.10.12's loader: a refused checkpoint is loaded again
    # with weights_only=False (its pickle runs). Upstream has no such loader.
    import mmengine.runner.checkpoint as checkpoint

    def retries_unsafely(file, map_location=None, weights_only=None):
        try:
            return torch.load(file, map_location=map_location)
        except pickle.UnpicklingError:
            return torch.load(
                file, map_location=map_location, weights_only=False)

    monkeypatch.setattr(
        checkpoint, '_safe_torch_load', retries_unsafely, raising=False)
    assert compat.refuse_unsafe_checkpoint_fallback()
    assert checkpoint._safe_torch_load is not retries_unsafely
    marker = tmp_path / 'pwned'
    write_hostile_checkpoint(tmp_path / 'evil.pth', marker)
    with pytest.raises(pickle.UnpicklingError, match=r'\bsystem\b'):
        checkpoint._safe_torch_load(str(tmp_path / 'evil.pth'), 'cpu')
    assert not marker.exists()
    # Runner checkpoints still load through it.
    torch.save({'meta': {'x': np.zeros(2)}}, tmp_path / 'ok.pth')
    assert checkpoint._safe_torch_load(str(tmp_path / 'ok.pth'))['meta']


def test_getattr_in_checkpoint_is_restricted(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': ReachesAttribute()}, path)
    with pytest.raises(pickle.UnpicklingError, match="getattr.*'tofile'"):
        torch.load(path)


def test_numpy1_spelling_of_numpy_globals_is_accepted():
    names = {
        name
        for item in compat.runner_checkpoint_globals()
        if isinstance(item, tuple) for name in item[1:]
    }
    assert {
        'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar',
        'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar'
    } <= names


# 3. Package lookup without pkg_resources -------------------------------------


def test_package_lookup_replacements():
    import mmseg
    mmseg_dir = osp.dirname(mmseg.__file__)
    assert compat._get_installed_path('mmsegmentation') == mmseg_dir
    assert compat._get_installed_path('mmseg') == mmseg_dir
    assert compat._is_installed('mmsegmentation')
    assert not compat._is_installed('surely_not_an_installed_package')


def test_package_lookup_is_patched_once_in_every_binding():
    import mmengine.config.config as config_module
    import mmengine.config.utils as config_utils
    import mmengine.hub.hub as hub_module
    assert compat.patch_package_lookup() is False  # done at import
    assert config_module.get_installed_path is compat._get_installed_path
    assert config_module.is_installed is compat._is_installed
    assert config_utils.MODULE2PACKAGE['ssformer_mmseg'] == 'ssformer_mmseg'
    for parse in (config_module._get_package_and_cfg_path,
                  hub_module._get_package_and_cfg_path):
        # Our runnable configs need no folder; other packages' rules stay.
        assert parse('ssformer_mmseg::ssformer_s_kvasir.py') == (
            'ssformer_mmseg', 'ssformer_s_kvasir.py')
        assert parse('mmseg::segformer/a.py') == ('mmsegmentation',
                                                  'segformer/a.py')
        with pytest.raises(ValueError):
            parse('mmseg::a.py')


def test_a_user_config_starts_from_a_packaged_one(run_python, tmp_path):
    cfg_file = tmp_path / 'mine.py'
    cfg_file.write_text("_base_ = ['ssformer_mmseg::ssformer_s_kvasir.py']\n"
                        "train_dataloader = dict(batch_size=2)\n")
    result = run_python(f"""
        import ssformer_mmseg
        from mmengine import Config
        cfg = Config.fromfile({str(cfg_file)!r})
        print(cfg.model.decode_head.type, cfg.train_dataloader.batch_size,
              cfg.train_cfg.max_iters, cfg.model._scope_,
              cfg.visualizer._scope_)
        # Built in the scope of mmseg's registries, where ours are.
        from mmengine.registry import VISUALIZERS
        import mmseg.visualization
        print(type(VISUALIZERS.build(cfg.visualizer)).__name__)
    """)
    assert result.code == 0, result.stderr
    assert result.stdout.split() == [
        'PLDHead', '2', '20000', 'mmseg', 'mmseg', 'SegLocalVisualizer'
    ]


def test_mmseg_base_config_inheritance(run_python, tmp_path):
    cfg_file = tmp_path / 'inherits_mmseg.py'
    cfg_file.write_text(
        "_base_ = ['mmseg::_base_/models/segformer_mit-b0.py']\n"
        "model = dict(decode_head=dict(num_classes=2))\n")
    result = run_python(f"""
        import ssformer_mmseg
        from mmengine import Config
        cfg = Config.fromfile({str(cfg_file)!r})
        print(cfg.model.decode_head.type, cfg.model.decode_head.num_classes)
    """)
    assert result.code == 0, result.stderr
    assert result.stdout.split() == ['SegformerHead', '2']


# Package-level promises ------------------------------------------------------


def test_config_custom_imports_register_everything(run_python):
    result = run_python("""
        from mmengine import Config
        from mmengine.registry import init_default_scope
        cfg = Config.fromfile('configs/_base_/models/ssformer_s.py')
        cfg.model.backbone.init_cfg = None
        from mmseg.registry import MODELS
        init_default_scope('mmseg')
        model = MODELS.build(cfg.model)
        print(type(model.decode_head).__name__)
    """)
    assert result.code == 0, result.stderr
    assert result.stdout.split()[-1] == 'PLDHead'


def test_core_never_imports_optional_backbone_libraries(run_python):
    result = run_python("""
        import sys
        import ssformer_mmseg, mmseg.models
        print(sorted(m for m in ('mmpretrain', 'timm', 'torchvision')
                     if m in sys.modules))
    """)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == '[]'


# 4. Distributed runs on CPU --------------------------------------------------


def test_cpu_process_group_init_skips_cuda(monkeypatch):
    import mmengine.dist.utils as dist_utils
    if torch.cuda.is_available():
        assert compat.patch_cpu_distributed_init() is False
        return
    assert compat.patch_cpu_distributed_init() is True
    calls = []
    monkeypatch.setattr(torch.distributed, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs))
    dist_utils._init_dist_pytorch('nccl', init_backend='torch', timeout=None)
    assert calls == [dict(backend='gloo', timeout=None)]


def test_cpu_ddp_wrapper_only_for_distributed_cpu_runs():
    from mmengine import Config
    single = Config(dict(launcher='none'))
    assert not compat.use_cpu_ddp_wrapper(single)
    assert 'model_wrapper_cfg' not in single
    own = Config(dict(launcher='pytorch', model_wrapper_cfg=dict(type='X')))
    assert not compat.use_cpu_ddp_wrapper(own)
    assert own.model_wrapper_cfg == dict(type='X')
    dist = Config(dict(launcher='pytorch', find_unused_parameters=True))
    assert compat.use_cpu_ddp_wrapper(dist) is not torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert dist.model_wrapper_cfg.device_ids is None
        assert dist.model_wrapper_cfg.find_unused_parameters is True


class _OldTorch:
    """torch 2.5's ``load`` signature and default (weights_only=False), with
    the real loader underneath."""

    def __init__(self, version: str):
        self.__version__ = version
        self.calls = []

    def load(self, f, map_location=None, weights_only=False, **kwargs):
        self.calls.append(weights_only)
        return torch.load(
            f, map_location=map_location, weights_only=weights_only, **kwargs)


def test_torch_before_2_6_loads_weights_only_by_default(
        write_hostile_checkpoint, tmp_path):
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.pth'
    write_hostile_checkpoint(path, marker)
    old = _OldTorch('2.5.1+cpu')
    assert compat.load_weights_only_by_default(old)
    assert not compat.load_weights_only_by_default(old)  # wrapped once
    # mmengine's call: no weights_only.
    with pytest.raises(pickle.UnpicklingError):
        old.load(str(path), map_location='cpu')
    assert not marker.exists() and old.calls == [True]
    # An explicit choice is kept, as on newer torch.
    old.load(str(path), map_location='cpu', weights_only=False)
    assert marker.exists() and old.calls == [True, False]


@pytest.mark.parametrize('version', ['2.6.0', '2.13.0+cpu', '3.0.0'])
def test_torch_from_2_6_is_left_alone(version):
    new = _OldTorch(version)
    load = new.load
    assert not compat.load_weights_only_by_default(new)
    assert new.load == load


# 6. The fork's import notice on stdout ---------------------------------------


def test_an_import_notice_is_held_back_and_the_rest_printed(
        tmp_path, monkeypatch, capsys):
    (tmp_path / 'noisy_fork_module.py').write_text(
        f'print({compat.FORK_IMPORT_NOTICE!r})\n'
        "print('a line of its own')\n"
        f'print({compat.FORK_IMPORT_NOTICE!r})\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert compat.import_without_notice('noisy_fork_module')
    assert capsys.readouterr().out == 'a line of its own\n'
    assert not compat.import_without_notice('noisy_fork_module')  # imported
    monkeypatch.delitem(sys.modules, 'noisy_fork_module')


def test_importing_the_package_prints_nothing(run_tool):
    # Not even on the forks, whose mmseg.datasets prints the notice.
    result = run_tool(
        '-c',
        'import ssformer_mmseg',
        env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert (result.code, result.stdout) == (0, ''), result.stderr
