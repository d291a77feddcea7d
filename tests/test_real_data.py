"""Real Kvasir-SEG / CVC-ClinicDB frames: datasets, pipelines, inference."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmseg.apis import inference_model, init_model

from conftest import REPO_ROOT, load_config


@pytest.fixture(scope='module')
def ssformer_s():
    cfg = load_config('_base_/models/ssformer_s.py')
    cfg.test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(352, 352), keep_ratio=False),
        dict(type='PackSegInputs'),
    ]
    return init_model(cfg, checkpoint=None, device='cpu')


@pytest.mark.parametrize('subset,split', [('kvasir-seg', 'kvasir_test'),
                                          ('cvc-clinicdb', 'clinicdb_test')])
def test_prediction_at_original_resolution(ssformer_s, real_data_root, subset,
                                           split):
    with open(osp.join(real_data_root, 'splits', 'pranet',
                       f'{split}.txt')) as f:
        stem = f.readline().strip()
    ext = '.jpg' if subset == 'kvasir-seg' else '.png'
    path = osp.join(real_data_root, subset, 'images', stem + ext)
    height, width = cv2.imread(path).shape[:2]
    result = inference_model(ssformer_s, path)
    assert result.pred_sem_seg.data.shape == (1, height, width)
    assert set(result.pred_sem_seg.data.unique().tolist()) <= {0, 1}
    prob = result.seg_logits.data
    assert prob.shape == (1, height, width)
    assert 0 <= prob.min() and prob.max() <= 1


# The PraNet split on the real data ------------------------------------------


def pranet_config(real_data_root, name='ssformer_s_pranet.py'):
    from ssformer_mmseg.config import load_config
    return load_config(
        osp.join(REPO_ROOT, 'configs', name), dict(data_root=real_data_root))


def test_pranet_split_sizes(real_data_root):
    from mmseg.registry import DATASETS
    cfg = pranet_config(real_data_root)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(train) == 1450
    names = [train.get_data_info(i)['dataset_name'] for i in range(1450)]
    assert names.count('Kvasir') == 900 and names.count('CVC-ClinicDB') == 550
    kvasir_test, clinicdb_test = (
        DATASETS.build(cfg.test_dataloader.dataset.datasets[i])
        for i in (0, 1))
    assert (len(kvasir_test), len(clinicdb_test)) == (100, 62)
    kvasir_cfg = pranet_config(real_data_root, 'ssformer_l_kvasir.py')
    assert len(DATASETS.build(kvasir_cfg.train_dataloader.dataset)) == 900
    assert len(DATASETS.build(kvasir_cfg.test_dataloader.dataset)) == 100


def test_every_real_mask_binarises(real_data_root):
    from ssformer_mmseg.datasets.polyp_files import read_mask
    for folder, count in (('kvasir-seg', 1000), ('cvc-clinicdb', 612)):
        mask_dir = osp.join(real_data_root, folder, 'masks')
        names = sorted(os.listdir(mask_dir))
        assert len(names) == count
        for name in names:
            mask = read_mask(osp.join(mask_dir, name))
            values = set(np.unique(mask).tolist())
            assert values == {0, 1}, (name, values)


class PaintMaskIntoImage:
    """Test-only: replace the image by its mask, so geometry can be
    compared after augmentation."""

    def __call__(self, results):
        mask = results['gt_seg_map']
        results['img'] = np.repeat(mask[..., None] * 255, 3, axis=2)
        return results


def test_training_sample_keeps_image_and_mask_aligned(real_data_root):
    from mmcv.transforms import Compose
    from mmseg.registry import DATASETS
    cfg = pranet_config(real_data_root, 'ssformer_s_kvasir.py')
    pipeline = list(cfg.train_pipeline)
    # Force every geometric transform, and skip the mask dilation/erosion
    # whose purpose is to disagree with the image by a few pixels.
    for step in pipeline:
        if step['type'] in ('RandomApply', 'RandomFlip', 'RandomRotate'):
            step['prob'] = 1.0
    pipeline = [p for p in pipeline if p['type'] != 'RandomMaskDilateErode']
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    info = dataset.get_data_info(0)
    steps = [
        Compose(pipeline[:2]),
        PaintMaskIntoImage(),
        Compose(pipeline[2:-1])
    ]
    np.random.seed(0)
    results = info
    for step in steps:
        results = step(results)
    image = results['img'][..., 0] > 127
    mask = results['gt_seg_map'] == 1
    assert results['img'].shape[:2] == mask.shape == (352, 352)
    assert results['flip'] and mask.any()
    iou = (image & mask).sum() / (image | mask).sum()
    assert iou > 0.97, iou
    # Deterministic under a seed.
    np.random.seed(0)
    again = dataset.get_data_info(0)
    for step in steps:
        again = step(again)
    assert np.array_equal(again['img'], results['img'])
    assert np.array_equal(again['gt_seg_map'], results['gt_seg_map'])


# The tools, end to end on real frames ----------------------------------------


@pytest.fixture(scope='module')
def run_ok(run_tool):
    """``run_ok(*args)``: run a tool, which must succeed; its output."""

    def run(*args):
        result = run_tool(*args, timeout=600)
        assert result.code == 0, (
            result.stdout[-3000:] + result.stderr[-3000:])
        return result.output

    return run


@pytest.mark.slow
def test_train_then_test_tools_on_kvasir(real_data_root, tiny_cli_options,
                                         run_ok, tmp_path):
    loaders = [
        f'{name}.{key}'
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        for key in ('num_workers=0', 'persistent_workers=False')
    ]
    work_dir = tmp_path / 'work'
    log = run_ok('tools/train.py', 'configs/ssformer_s_kvasir.py',
                 '--work-dir', str(work_dir), '--cfg-options',
                 f'data_root={real_data_root}', *tiny_cli_options, *loaders,
                 'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
                 'train_cfg.val_interval=2',
                 'default_hooks.checkpoint.interval=2',
                 'default_hooks.logger.interval=1',
                 'default_hooks.checkpoint.save_best=Kvasir/meanDic',
                 'default_hooks.checkpoint.rule=greater',
                 'val_dataloader.dataset.indices=3')
    assert 'Iter(train) [2/2]' in log and 'loss_dice' in log
    assert 'Kvasir/meanDic' in log and 'mean/Sm' in log
    # Checkpoint selection can use any of the per-set keys.
    assert any(
        f.startswith('best_Kvasir_meanDic') for f in os.listdir(work_dir))
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    maps = tmp_path / 'maps'
    log = run_ok('tools/test.py', 'configs/ssformer_s_kvasir.py',
                 str(checkpoint),
                 '--work-dir', str(tmp_path / 'test'), '--show-dir',
                 str(tmp_path / 'shown'), '--out', str(maps), '--cfg-options',
                 f'data_root={real_data_root}', *tiny_cli_options, *loaders,
                 'test_dataloader.dataset.indices=2')
    assert 'Iter(test) [2/2]' in log and 'Kvasir/meanDic' in log
    assert len(os.listdir(maps / 'Kvasir')) == 2
    assert (tmp_path / 'test' / 'per_image.csv').is_file()
    assert (tmp_path / 'test' / 'dice_vs_threshold.png').is_file()
    # --out is a run folder the web app's review tab opens.
    from ssformer_mmseg.webapp.review import TestRun
    run = TestRun(str(maps))
    table = run.table()
    assert len(table) == 2 and table[0][2] <= table[1][2]
    panels = run.panels('Kvasir', table[0][1])
    assert panels['frame'].shape == panels['errors'].shape
    assert panels['frame'].shape[:2] == panels['ground_truth'].shape[:2]
    # Scoring the exported maps without a model gives the same numbers.
    in_run = metric_line(log)
    offline = run_ok('tools/eval_maps.py', str(maps),
                     'configs/ssformer_s_kvasir.py', '--report-dir',
                     str(tmp_path / 'offline'), '--cfg-options',
                     f'data_root={real_data_root}',
                     'test_dataloader.dataset.indices=2')
    assert table_row(offline, 'Kvasir') == table_row(log, 'Kvasir')
    assert in_run
    # Test-time augmentation (flips) runs through the same metric.
    log = run_ok('tools/test.py', 'configs/ssformer_s_kvasir.py',
                 str(checkpoint), '--tta', '--work-dir', str(tmp_path / 'tta'),
                 '--cfg-options', f'data_root={real_data_root}',
                 *tiny_cli_options, *loaders,
                 'test_dataloader.dataset.indices=2')
    assert 'Iter(test) [2/2]' in log and 'Kvasir/meanDic' in log
    drawn = [
        f for _, _, files in os.walk(tmp_path / 'shown') for f in files
        if f.endswith('.png')
    ]
    assert len(drawn) == 2


def table_row(log: str, name: str) -> list:
    """The cells of a test set's row in the printed PolypMetric table."""
    for line in log.splitlines():
        cells = [c.strip() for c in line.split('|')]
        if len(cells) > 3 and cells[1] == name:
            return cells[2:-1]
    raise AssertionError(f'no table row for {name} in:\n{log[-2000:]}')


def metric_line(log: str) -> str:
    return next(line for line in log.splitlines() if 'Kvasir/meanDic' in line)


def test_browse_dataset_draws_training_samples(real_data_root, run_ok,
                                               tmp_path):
    out = tmp_path / 'samples.png'
    log = run_ok('tools/browse_dataset.py', 'configs/ssformer_s_pranet.py',
                 '--out', str(out), '--samples', '2', '--views', '3',
                 '--cfg-options', f'data_root={real_data_root}')
    assert 'wrote' in log and '2 samples x (1 loaded + 3 augmented)' in log
    picture = cv2.imread(str(out))
    # Two rows of four 352x352 tiles, each row under its 22-pixel label bar,
    # tiles 4 pixels apart.
    assert picture.shape == (2 * (22 + 352), 4 * 352 + 3 * 4, 3)
