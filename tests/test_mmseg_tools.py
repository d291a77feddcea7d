"""Our configs run the way OpenMMLab users run plugins, with mmseg's own
train/test flow (which never imports us before reading the config), and
training without network access says what to do."""
import os
import textwrap

import pytest

#: mmseg 1.x's tools/train.py and tools/test.py, reduced to what they do in
#: order: register mmseg's modules (importing mmseg.models, hence mmcv.ops),
#: then load the config, whose custom_imports import ssformer_mmseg, then
#: run the Runner. Written here, never importing ssformer_mmseg itself.
MMSEG_STYLE_SCRIPT = textwrap.dedent('''
    import sys

    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    print('ssformer_mmseg imported before the config:',
          'ssformer_mmseg' in sys.modules)
    cfg = Config.fromfile(sys.argv[2])
    cfg.work_dir = sys.argv[3]
    if sys.argv[1] == 'train':
        Runner.from_cfg(cfg).train()
    else:
        cfg.load_from = sys.argv[4]
        print(Runner.from_cfg(cfg).test())
''')


@pytest.mark.slow
def test_mmseg_style_train_and_test_scripts_run_our_config(
        tmp_path, run_tool, make_kvasir_like, make_tiny_config,
        make_tiny_config_file):
    data = make_kvasir_like(tmp_path / 'data', num_train=2, num_test=1)
    cfg = make_tiny_config()
    cfg.merge_from_dict({
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
    })
    config = make_tiny_config_file(cfg)
    # The data root the datasets were configured with, moved as
    # --cfg-options data_root=... would (the script takes a plain file).
    text = open(config).read().replace(cfg.data_root, str(data))
    open(config, 'w').write(text)
    assert 'ssformer_mmseg' in text  # custom_imports, from our base config
    script = tmp_path / 'mmseg_train.py'
    script.write_text(MMSEG_STYLE_SCRIPT)
    work = tmp_path / 'work'
    # Run outside the repository, as an installed package is used.
    trained = run_tool(script, 'train', config, work, cwd=tmp_path)
    assert trained.code == 0, trained.output[-3000:]
    assert 'ssformer_mmseg imported before the config: False' in \
        trained.stdout
    assert 'Saving checkpoint at 2 iterations' in trained.output
    checkpoint = work / 'iter_2.pth'
    assert checkpoint.is_file()
    tested = run_tool(
        script, 'test', config, tmp_path / 'test', checkpoint, cwd=tmp_path)
    assert tested.code == 0, tested.output[-3000:]
    assert "'Kvasir/meanDic'" in tested.stdout


@pytest.mark.slow
def test_unreachable_pretrained_weights_are_explained(tmp_path, run_tool,
                                                      make_kvasir_like,
                                                      tiny_cli_options):
    data = make_kvasir_like(tmp_path / 'data', num_train=2, num_test=1)
    # Nothing listens on the discard port: the download is refused at once.
    url = 'http://127.0.0.1:9/mit_b2_20220624-66e8bf70.pth'
    options = [o for o in tiny_cli_options if 'init_cfg' not in o]
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'hub'))
    result = run_tool(
        'tools/train.py',
        'configs/ssformer_s_kvasir.py',
        '--work-dir',
        tmp_path / 'work',
        '--cfg-options',
        f'data_root={data}',
        *options,
        'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={url}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.batch_size=2',
        'train_cfg.max_iters=2',
        env=env)
    assert result.code == 1, result.output[-3000:]
    assert f'cannot download the pretrained weights {url}' in result.stderr
    assert 'model.backbone.init_cfg.checkpoint=PATH' in result.stderr
    assert 'mit2mmseg.py' in result.stderr
    assert 'model.backbone.init_cfg=None' in result.stderr
    assert 'Traceback' not in result.output
