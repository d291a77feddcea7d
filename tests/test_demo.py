"""The `make demo` pieces: synthetic set, demo config, tools/demo.py.

The full demo trains for minutes, so it is not run here; a 4-iteration run
of ``tools/demo.py`` on a tiny set checks that every phase runs and writes
every file.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmseg.registry import DATASETS

from conftest import CONFIG_DIR, REPO_ROOT
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import (SyntheticPolypDataset,
                                     make_synthetic_polyp_set)
from ssformer_mmseg.datasets.synthetic import (MAX_POLYP_FRACTION,
                                               MIN_POLYP_FRACTION,
                                               render_frame, split_file)
from ssformer_mmseg.demo import DemoOptions, make_data, scale_schedule

DEMO_CONFIG = osp.join(CONFIG_DIR, 'demo_ssformer_s_synthetic.py')
SIZE = 96


def set_files(root):
    """{relative path: bytes} of everything the generator wrote."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_polyp_set(
        root, num_train=40, num_test=12, size=SIZE, seed=0)
    return root


def masks(root, split):
    with open(split_file(root, split)) as f:
        stems = f.read().split()
    return {
        stem: cv2.imread(
            osp.join(root, 'synthetic', 'masks', stem + '.png'),
            cv2.IMREAD_UNCHANGED)
        for stem in stems
    }


def polyp_fractions(mask):
    """Area fraction of each polyp (8-connected component) of a mask."""
    count, labels = cv2.connectedComponents(
        (mask > 0).astype(np.uint8), connectivity=8)
    return [float((labels == k).mean()) for k in range(1, count)]


def test_generator_writes_the_prepared_layout(synthetic_root):
    root = synthetic_root
    with open(split_file(root, 'train')) as f:
        train = f.read().split()
    with open(split_file(root, 'test')) as f:
        test = f.read().split()
    assert train == [f'train_{i:04d}' for i in range(40)]
    assert test == [f'test_{i:04d}' for i in range(12)]
    for sub in ('images', 'masks'):
        assert sorted(os.listdir(osp.join(root, 'synthetic', sub))) == \
            sorted(s + '.png' for s in train + test)
    image = cv2.imread(
        osp.join(root, 'synthetic', 'images', 'train_0000.png'),
        cv2.IMREAD_UNCHANGED)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    with open(osp.join(root, 'synthetic', 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['seed'] == 0 and manifest['num_train'] == 40


def test_masks_are_binary_with_plausible_polyps(synthetic_root):
    counts = []
    for split in ('train', 'test'):
        for stem, mask in masks(synthetic_root, split).items():
            assert mask.shape == (SIZE, SIZE) and mask.dtype == np.uint8
            assert set(np.unique(mask)) <= {0, 255}, stem
            fractions = polyp_fractions(mask)
            assert len(fractions) <= 2, stem
            for fraction in fractions:
                assert MIN_POLYP_FRACTION <= fraction <= \
                    MAX_POLYP_FRACTION, (stem, fraction)
            if split == 'test':
                # An empty ground truth scores 0 on the toolbox curves.
                assert fractions, f'{stem} has no polyp'
            else:
                counts.append(len(fractions))
    # Training frames with none, one and two polyps all occur.
    assert set(counts) == {0, 1, 2}


def test_frames_look_like_mucosa_with_distinct_polyps(synthetic_root):
    reds, contrasts = [], []
    root = osp.join(synthetic_root, 'synthetic')
    for stem, mask in masks(synthetic_root, 'test').items():
        image = cv2.imread(osp.join(root, 'images', stem + '.png'))
        b, g, r = (image[..., c].astype(float).mean() for c in range(3))
        reds.append(r > g and r > b)
        inside = image[mask > 0].astype(float).mean(axis=0)
        outside = image[mask == 0].astype(float).mean(axis=0)
        contrasts.append(np.abs(inside - outside).max())
    assert all(reds), 'frames should be reddish (mucosa)'
    # Polyps differ from the mucosa, but moderately: no colour giveaway.
    assert 3 < np.median(contrasts) < 60


def test_generator_is_deterministic(tmp_path):
    make_synthetic_polyp_set(str(tmp_path / 'a'), 6, 3, SIZE, seed=3)
    make_synthetic_polyp_set(str(tmp_path / 'b'), 6, 3, SIZE, seed=3)
    make_synthetic_polyp_set(str(tmp_path / 'c'), 6, 3, SIZE, seed=4)
    # A larger set starts with the frames of a smaller one.
    make_synthetic_polyp_set(str(tmp_path / 'd'), 8, 3, SIZE, seed=3)
    a, b = set_files(tmp_path / 'a'), set_files(tmp_path / 'b')
    c, d = set_files(tmp_path / 'c'), set_files(tmp_path / 'd')
    assert a == b
    frame = osp.join('synthetic', 'images', 'train_0000.png')
    assert a[frame] != c[frame]
    assert all(d[k] == v for k, v in a.items() if 'images' in k)


def test_render_frame_is_pure_in_its_generator():
    first = render_frame(np.random.default_rng(7), (64, 80), 1)
    again = render_frame(np.random.default_rng(7), (64, 80), 1)
    assert first[0].shape == (64, 80, 3) and first[1].shape == (64, 80)
    assert np.array_equal(first[0], again[0])
    assert np.array_equal(first[1], again[1])


def test_complete_set_is_reused_and_incomplete_one_rebuilt(tmp_path):
    root = str(tmp_path)
    make_synthetic_polyp_set(root, 4, 2, SIZE, seed=0)
    image = osp.join(root, 'synthetic', 'images', 'train_0001.png')
    stamp = os.stat(image).st_mtime_ns
    make_synthetic_polyp_set(root, 4, 2, SIZE, seed=0)
    assert os.stat(image).st_mtime_ns == stamp  # reused
    os.remove(osp.join(root, 'synthetic', 'masks', 'test_0000.png'))
    make_synthetic_polyp_set(root, 4, 2, SIZE, seed=0)
    assert osp.exists(osp.join(root, 'synthetic', 'masks', 'test_0000.png'))
    # Other parameters: rebuilt, and no frame of the old set is left over.
    make_synthetic_polyp_set(root, 2, 1, SIZE, seed=0)
    assert sorted(os.listdir(osp.join(root, 'synthetic', 'images'))) == [
        'test_0000.png', 'train_0000.png', 'train_0001.png'
    ]


def test_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='32x32'):
        make_synthetic_polyp_set(str(tmp_path), 1, 1, 16)
    with pytest.raises(ValueError, match='negative'):
        make_synthetic_polyp_set(str(tmp_path), -1, 1, 64)


def test_dataset_loads_the_set_with_the_demo_pipelines(synthetic_root):
    cfg = load_config(DEMO_CONFIG, dict(data_root=synthetic_root))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    assert isinstance(train, SyntheticPolypDataset)
    assert (len(train), len(test)) == (40, 12)
    assert train.metainfo['classes'] == ('background', 'polyp')
    crop = cfg.crop_size
    for i in range(3):
        sample = train[i]
        assert tuple(sample['inputs'].shape) == (3, *crop)
        labels = set(sample['data_samples'].gt_sem_seg.data.unique().tolist())
        assert labels <= {0, 1}
        assert sample['data_samples'].dataset_name == 'Synthetic'
    sample = test[0]
    assert tuple(sample['inputs'].shape) == (3, *crop)
    # The ground truth stays at its original size, for scoring.
    assert tuple(sample['data_samples'].gt_sem_seg.data.shape) == (1, SIZE,
                                                                   SIZE)


def test_demo_config_is_a_small_ssformer_s():
    cfg = load_config(DEMO_CONFIG)
    s = load_config(osp.join(CONFIG_DIR, '_base_', 'models', 'ssformer_s.py'))
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == s.model.backbone.type == 'NVMixVisionTransformer'
    assert backbone.init_cfg is None  # nothing to download
    for key in ('num_heads', 'sr_ratios', 'patch_sizes', 'strides',
                'patch_norm_eps', 'sr_norm_eps', 'norm_cfg'):
        assert backbone[key] == s.model.backbone[key], key
    assert head.type == 'PLDHead'
    assert head.in_channels == [
        backbone.embed_dims * n for n in backbone.num_heads
    ]
    assert head.loss_decode == s.model.decode_head.loss_decode
    assert cfg.model.data_preprocessor.size == cfg.crop_size
    assert cfg.train_dataloader.dataset.type == 'SyntheticPolypDataset'
    assert cfg.test_evaluator.type == 'PolypMetric'
    assert cfg.randomness.seed == 0
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'


@pytest.mark.parametrize('iters', [4, 1600])
def test_schedule_scales_with_the_iterations(iters):
    cfg = load_config(DEMO_CONFIG)
    old = cfg.train_cfg.max_iters
    warmup, decay = (dict(s) for s in cfg.param_scheduler)
    scale_schedule(cfg, iters)
    assert cfg.train_cfg.max_iters == iters
    assert cfg.default_hooks.checkpoint.interval == iters
    new_warmup, new_decay = cfg.param_scheduler
    assert new_decay.end == iters
    assert 0 <= new_warmup.begin < new_warmup.end <= iters
    if iters > old:
        factor = iters / old
        assert new_warmup.end == round(warmup['end'] * factor)
        assert new_decay.begin == round(decay['begin'] * factor)
        assert cfg.train_cfg.val_interval == round(
            load_config(DEMO_CONFIG).train_cfg.val_interval * factor)
    else:
        assert cfg.train_cfg.val_interval >= 1


@pytest.mark.slow
def test_tiny_demo_run_writes_everything(run_tool, tmp_path):
    out = tmp_path / 'demo'
    result = run_tool(
        osp.join(REPO_ROOT, 'tools', 'demo.py'),
        '--out-dir',
        str(out),
        '--iters',
        '4',
        '--train-size',
        '8',
        '--test-size',
        '4',
        '--image-size',
        '64',
        '--overlays',
        '3',
        cwd=tmp_path,
        timeout=600)
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'test meanDic' in result.stdout
    assert 'Saving checkpoint at 4 iterations' in result.stdout
    with open(out / 'summary.json') as f:
        summary = json.load(f)
    assert summary['iters'] == 4
    assert set(
        summary['seconds']) == {'data', 'train', 'test', 'pictures', 'total'}
    for name in ('meanDic', 'mDice', 'Sm', 'MAE'):
        assert 0 <= summary['metrics'][name] <= 1
    for path in summary['files'].values():
        assert osp.exists(path), path
        # Everything the demo writes is under --out-dir.
        assert osp.realpath(path).startswith(osp.realpath(out))
    for name in ('metrics.txt', 'overlays.png', 'learning_curve.png',
                 'summary.json', 'test/per_image.csv',
                 'test/dice_vs_threshold.png', 'train/iter_4.pth'):
        assert (out / name).is_file(), name
    maps = sorted(os.listdir(out / 'test' / 'prob_maps' / 'Synthetic'))
    assert maps == [f'test_{i:04d}.png' for i in range(4)]
    prob = cv2.imread(
        str(out / 'test' / 'prob_maps' / 'Synthetic' / maps[0]),
        cv2.IMREAD_UNCHANGED)
    assert prob.shape == (64, 64)  # at ground-truth resolution
    assert len(os.listdir(out / 'overlays')) == 3
    with open(out / 'test' / 'per_image.csv') as f:
        assert len(f.read().strip().splitlines()) == 1 + 4
    assert 'meanDic' in (out / 'metrics.txt').read_text()
    assert sorted(p for p in os.listdir(tmp_path)) == ['demo']

    # A second run would reuse the complete synthetic set.
    options = DemoOptions(
        out_dir=str(out), train_size=8, test_size=4, image_size=64)
    stamp = os.stat(out / 'data' / 'synthetic' / 'manifest.json').st_mtime_ns
    make_data(options, str(out / 'data'))
    assert os.stat(out / 'data' / 'synthetic' /
                   'manifest.json').st_mtime_ns == stamp
