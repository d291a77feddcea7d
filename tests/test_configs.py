"""Every config parses; the model configs say what the paper says."""
import glob
import os.path as osp

import pytest
from mmengine import Config

from conftest import CONFIG_DIR

ALL_CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
MIT_URL = ('https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/'
           'segformer/mit_{}_2022062')

RUNNABLE = [
    'ssformer_s_kvasir.py', 'ssformer_l_kvasir.py', 'ssformer_s_pranet.py',
    'ssformer_l_pranet.py'
]

#: Every config that trains keeps these (docs/reliability.md): the NaN
#: guard and the hook that makes a resumed run repeat an uninterrupted one.
SAFETY_HOOKS = ('NonFiniteLossHook', 'RandomStateHook')


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_training_configs_keep_the_safety_hooks(name):
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, name), import_custom_modules=False)
    if 'train_cfg' not in cfg or 'model' not in cfg:
        return
    hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    assert set(SAFETY_HOOKS) <= set(hooks), (name, hooks)
    # save_best through the hook that keeps the previous best until the
    # new one is written.
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint', {})
    if checkpoint.get('save_best'):
        assert checkpoint['type'] == 'BestCheckpointHook', name


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_parses(name):
    # Optional configs import packages that may be absent (mmpretrain).
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, name), import_custom_modules=False)
    if 'model' not in cfg:
        assert name.startswith('_base_/') and 'models' not in name
        return
    assert 'ssformer_mmseg' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.default_scope == 'mmseg'
    # The one ablation config swaps the head on purpose.
    expected = 'SegformerHead' if 'segformer_head' in name else 'PLDHead'
    assert cfg.model.decode_head.type == expected


def test_head_ablation_differs_only_in_the_head():

    def load(name):
        cfg = Config.fromfile(
            osp.join(CONFIG_DIR, 'experiments', name),
            import_custom_modules=False)
        head = cfg.model.pop('decode_head')
        return cfg.to_dict(), head

    pld, pld_head = load('ssformer_s_kvasir_scratch_224.py')
    ablation, segformer_head = load(
        'segformer_head_mit_b2_kvasir_scratch_224.py')
    assert pld == ablation
    for key in ('in_channels', 'channels', 'dropout_ratio', 'out_channels',
                'loss_decode', 'norm_cfg'):
        assert pld_head[key] == segformer_head[key], key


@pytest.mark.parametrize('name,layers,arch', [
    ('ssformer_s.py', [3, 4, 6, 3], 'b2'),
    ('ssformer_l.py', [3, 8, 27, 3], 'b4'),
])
def test_ssformer_model_configs(name, layers, arch):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'models', name))
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == 'NVMixVisionTransformer'
    assert backbone.num_layers == layers
    assert backbone.embed_dims == 64
    assert backbone.num_heads == [1, 2, 5, 8]
    assert backbone.sr_ratios == [8, 4, 2, 1]
    assert backbone.qkv_bias is True
    assert backbone.drop_path_rate == 0.1
    assert backbone.norm_cfg == dict(type='LN', eps=1e-6)
    assert backbone.patch_norm_eps == backbone.sr_norm_eps == 1e-5
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint.startswith(MIT_URL.format(arch))
    assert cfg.model.data_preprocessor.size == (352, 352)
    assert head.in_channels == [64, 128, 320, 512]
    assert head.channels == 256 and head.dropout_ratio == 0.1
    assert head.out_channels == 1 and head.threshold == 0.5
    assert head.align_corners is True
    assert [loss.type for loss in head.loss_decode
            ] == ['CrossEntropyLoss', 'BinaryDiceLoss']
    assert head.loss_decode[0].use_sigmoid is True


def test_optional_mmpretrain_config_names_its_backbone():
    path = osp.join(CONFIG_DIR, '_base_', 'models',
                    'pld_convnext-t_mmpretrain.py')
    cfg = Config.fromfile(path, import_custom_modules=False)
    assert cfg.model.backbone.type == 'mmpretrain.ConvNeXt'
    assert 'mmpretrain.models' in cfg.custom_imports.imports
    assert cfg.model.decode_head.in_channels == [96, 192, 384, 768]


def test_optional_mmpretrain_config_builds_or_says_what_is_missing():
    from mmseg.registry import MODELS
    path = osp.join(CONFIG_DIR, '_base_', 'models',
                    'pld_convnext-t_mmpretrain.py')
    try:
        import mmpretrain  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match='mmpretrain'):
            Config.fromfile(path)
        return
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    assert MODELS.build(cfg.model).backbone is not None


@pytest.mark.parametrize('name', RUNNABLE)
def test_runnable_config_builds_every_transform(name):
    from mmseg.registry import TRANSFORMS
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    for step in cfg.train_pipeline + cfg.test_pipeline:
        TRANSFORMS.build(step)
    assert [s['type'] for s in cfg.test_pipeline] == [
        'LoadPolypImage', 'Resize', 'LoadPolypAnnotations', 'PackSegInputs'
    ]
    assert 'dataset_name' in cfg.test_pipeline[-1]['meta_keys']


def dataset_roots(cfg):
    roots = []

    def visit(node):
        if isinstance(node, dict):
            if 'data_root' in node:
                roots.append(node['data_root'])
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        visit(cfg[key])
    return roots


def test_data_root_from_environment_and_cfg_options(monkeypatch):
    from ssformer_mmseg.config import load_config
    path = osp.join(CONFIG_DIR, 'ssformer_s_pranet.py')
    monkeypatch.delenv('POLYP_DATA_ROOT', raising=False)
    default = load_config(path)
    # 2 training sets, 5 test sets for val and test.
    assert dataset_roots(default) == ['data/polyp'] * 12
    monkeypatch.setenv('POLYP_DATA_ROOT', '/from/env')
    assert set(dataset_roots(load_config(path))) == {'/from/env'}
    moved = load_config(path, {
        'data_root': '/from/cli',
        'train_dataloader.batch_size': 2
    })
    assert set(dataset_roots(moved)) == {'/from/cli'}
    assert moved.data_root == '/from/cli'
    assert moved.train_dataloader.batch_size == 2


def test_data_root_override_needs_a_top_level_root(tmp_path):
    from ssformer_mmseg.config import load_config
    path = tmp_path / 'no_root.py'
    path.write_text('x = 1\n')
    with pytest.raises(KeyError, match='no top-level data_root'):
        load_config(str(path), {'data_root': '/somewhere'})


def test_tiny_model_is_the_same_in_every_form(tiny_options, tiny_cli_options,
                                              tiny_config, tiny_config_file):
    """conftest's tiny SSFormer-S: the arguments a tool parses, the options
    dict, the Config and the config file all give one model, and its head
    reads the backbone's stage widths."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parsed = parser.parse_args(['--cfg-options', *tiny_cli_options])
    assert parsed.cfg_options == tiny_options
    for key, value in tiny_options.items():
        node = tiny_config
        for part in key.split('.'):
            node = node[part]
        assert node == value, key
    assert Config.fromfile(tiny_config_file).model == tiny_config.model
    backbone, head = tiny_config.model.backbone, tiny_config.model.decode_head
    assert backbone.init_cfg is None  # nothing to download
    assert head.in_channels == [
        backbone.embed_dims * n for n in backbone.num_heads
    ]


def lr_per_iteration(param_scheduler, iterations, lr=1e-4):
    """The learning rate at each iteration under iteration-based
    schedulers, built as mmengine's runner builds them."""
    import torch
    from mmengine.registry import PARAM_SCHEDULERS
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=lr)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(step, optimizer=optimizer))
        for step in param_scheduler
    ]
    lrs = []
    for _ in range(iterations):
        lrs.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize('name,step_at,iterations', [
    ('ssformer_s_kvasir.py', 15000, 20000),
    ('experiments/ssformer_s_kvasir_ours_scratch_128.py', 304, 405),
])
def test_our_schedule_steps_where_its_comment_says(name, step_at, iterations):
    """Warm-up over 100 iterations, then x0.1 at the stated iteration
    (mmengine counts milestones from the scheduler's begin)."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    lrs = lr_per_iteration(cfg.param_scheduler, iterations)
    assert lrs[0] == pytest.approx(1e-7)
    assert lrs[100] == lrs[step_at - 1] == pytest.approx(1e-4)
    assert lrs[step_at] == lrs[-1] == pytest.approx(1e-5)
