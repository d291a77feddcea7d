"""The authors' recipe, point by point: holdout, centred zoom, soft masks,
the official loss, the authors' configs and the side-by-side comparison
(the head's soft targets: tests/test_pld_head.py)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine import Config
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from PIL import Image

from conftest import CONFIG_DIR
from ssformer_mmseg.datasets import PolypDataset
from ssformer_mmseg.datasets.holdout import check_holdout, holdout_part
from ssformer_mmseg.datasets.transforms import (LoadPolypAnnotations,
                                                PackPolypInputs,
                                                RandomCentreZoom,
                                                RandomMaskDilateErode,
                                                SoftMaskResize)
from ssformer_mmseg.datasets.transforms.soft_masks import (SOFT_MASK_KEY,
                                                           SOFT_TARGET_FIELD)
from ssformer_mmseg.engine.run_records import (images_seen, read_test_scores,
                                               run_curves, score_table)
from ssformer_mmseg.models import BinaryDiceLoss, PixelDiceBCELoss

# Holdout ---------------------------------------------------------------------

STEMS = [f's{i:03d}' for i in range(900)]


def test_holdout_parts_are_disjoint_complete_and_seeded():
    val = holdout_part(STEMS, 0.1, 0, 'val')
    train = holdout_part(STEMS, 0.1, 0, 'train')
    assert len(val) == 90 and len(train) == 810
    assert set(val).isdisjoint(train) and set(val) | set(train) == set(STEMS)
    # Both keep the split's order; the same seed holds out the same frames
    # whatever the split file's order; another seed others.
    assert train == [s for s in STEMS if s in set(train)]
    assert holdout_part(STEMS[::-1], 0.1, 0, 'val') == val[::-1]
    assert holdout_part(STEMS, 0.1, 1, 'val') != val


def test_holdout_keeps_at_least_one_frame_each_side():
    assert len(holdout_part(['a', 'b'], 0.01, 0, 'val')) == 1
    assert len(holdout_part(['a', 'b'], 0.99, 0, 'train')) == 1
    with pytest.raises(ValueError, match='at least two'):
        holdout_part(['a'], 0.5, 0, 'val')


def test_bad_holdout_names_every_problem():
    with pytest.raises(ValueError) as error:
        check_holdout(dict(fraction=1.5, part='test', seed='0', extra=1))
    for problem in ('unknown keys', 'fraction', 'part', 'seed'):
        assert problem in str(error.value)
    assert check_holdout(dict(fraction=0.2, part='val')) == (0.2, 0, 'val')


def write_pairs(root, stems, mask_value=255):
    for sub in ('images', 'masks'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        image = np.full((24, 32, 3), i, np.uint8)
        mask = np.zeros((24, 32), np.uint8)
        cv2.circle(mask, (16, 12), 6, mask_value, -1)
        cv2.imwrite(str(root / 'images' / f'{stem}.png'), image)
        cv2.imwrite(str(root / 'masks' / f'{stem}.png'), mask)


def test_dataset_holdout_divides_the_split(tmp_path):
    stems = [f'f{i}' for i in range(20)]
    write_pairs(tmp_path, stems)
    (tmp_path / 'split.txt').write_text('\n'.join(stems[:10]))

    def names(part):
        dataset = PolypDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='images', seg_map_path='masks'),
            ann_file='split.txt',
            holdout=dict(fraction=0.3, part=part, seed=0),
            pipeline=[])
        return [
            osp.basename(dataset.get_data_info(i)['img_path'])[:-4]
            for i in range(len(dataset))
        ]

    train, val = names('train'), names('val')
    assert len(val) == 3 and len(train) == 7
    assert sorted(train + val) == sorted(stems[:10])
    with pytest.raises(ValueError, match='part must be one of'):
        names('test')


# Soft masks ------------------------------------------------------------------


def grey_mask_sample(tmp_path, size=(60, 84)):
    """A sample loaded with the soft mask: a disk with a grey rim and the
    low-amplitude noise of a JPEG-coded mask."""
    height, width = size
    mask = np.zeros(size, np.uint8)
    cv2.circle(mask, (width // 2, height // 2), 18, 255, -1)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.8)
    noise = np.random.default_rng(1).integers(0, 12, size, dtype=np.uint8)
    mask = np.where(mask > 127, mask - noise, mask + noise).astype(np.uint8)
    path = str(tmp_path / 'mask.png')
    cv2.imwrite(path, mask)
    rng = np.random.default_rng(0)
    results = dict(
        img=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        img_shape=size,
        ori_shape=size,
        seg_map_path=path,
        seg_fields=[],
        reduce_zero_label=False)
    return LoadPolypAnnotations(soft_mask=True)(results), mask


def test_soft_mask_loading_keeps_grey_levels(tmp_path):
    results, mask = grey_mask_sample(tmp_path)
    np.testing.assert_array_equal(results[SOFT_MASK_KEY], mask)
    np.testing.assert_array_equal(results['gt_seg_map'], mask > 127)
    assert results['seg_fields'] == ['gt_seg_map', SOFT_MASK_KEY]
    assert len(np.unique(mask)) > 10  # really grey
    plain = LoadPolypAnnotations()(
        dict(
            seg_map_path=results['seg_map_path'],
            seg_fields=[],
            reduce_zero_label=False))
    assert SOFT_MASK_KEY not in plain
    np.testing.assert_array_equal(plain['gt_seg_map'], results['gt_seg_map'])


def test_soft_mask_resize_is_pils_bilinear(tmp_path):
    results, mask = grey_mask_sample(tmp_path)
    out = SoftMaskResize(
        scale=(20, 16),
        keep_ratio=False,
        backend='pillow',
        interpolation='bilinear')(
            results)
    expected = np.asarray(
        Image.fromarray(mask).resize((20, 16), Image.BILINEAR))
    np.testing.assert_array_equal(out[SOFT_MASK_KEY], expected)
    assert out['img'].shape[:2] == out['gt_seg_map'].shape == (16, 20)
    # The labels are resized nearest, as by mmseg's Resize.
    assert set(np.unique(out['gt_seg_map'])) <= {0, 1}


def official_zoom(array, ratio, resample=Image.BICUBIC):
    """The official random scale-crop with a given ratio, through PIL."""
    image = Image.fromarray(array)
    base = image.size
    size = tuple((np.array(base) * ratio).round().astype(int))
    image = image.resize(size, resample)
    return np.asarray(
        image.crop(((size[0] - base[0]) // 2, (size[1] - base[1]) // 2,
                    (size[0] + base[0]) // 2, (size[1] + base[1]) // 2)))


@pytest.mark.parametrize('ratio', [0.75, 0.9, 1.0, 1.13, 1.25])
def test_centre_zoom_is_the_official_crop(tmp_path, monkeypatch, ratio):
    results, mask = grey_mask_sample(tmp_path)
    image = results['img'].copy()
    zoom = RandomCentreZoom(prob=1.0)
    monkeypatch.setattr(zoom, '_random_ratio', lambda: ratio)
    out = zoom(results)
    np.testing.assert_array_equal(out['img'], official_zoom(image, ratio))
    np.testing.assert_array_equal(out[SOFT_MASK_KEY],
                                  official_zoom(mask, ratio))
    np.testing.assert_array_equal(
        out['gt_seg_map'],
        official_zoom((mask > 127).astype(np.uint8), ratio, Image.NEAREST))
    assert out['img'].shape == image.shape


def test_centre_zoom_keeps_the_object_centred():
    mask = np.zeros((41, 61), np.uint8)
    mask[18:23, 28:33] = 1
    for ratio in (0.75, 1.25):
        zoom = RandomCentreZoom(prob=1.0, ratio_range=(ratio, ratio))
        out = zoom(
            dict(
                img=np.zeros((41, 61, 3), np.uint8),
                gt_seg_map=mask,
                seg_fields=['gt_seg_map']))['gt_seg_map']
        rows, cols = np.nonzero(out)
        assert abs(rows.mean() - 20) <= 0.5 and abs(cols.mean() - 30) <= 0.5
        assert out.sum() == pytest.approx(25 * ratio**2, rel=0.4)
    # Zooming out pads with black and background.
    zoom = RandomCentreZoom(prob=1.0, ratio_range=(0.75, 0.75))
    out = zoom(
        dict(
            img=np.full((40, 40, 3), 200, np.uint8),
            gt_seg_map=np.ones((40, 40), np.uint8),
            seg_fields=['gt_seg_map']))
    assert (out['img'][0] == 0).all() and (out['gt_seg_map'][0] == 0).all()
    assert (out['img'][20] == 200).any()


def test_centre_zoom_probability_and_arguments():
    sample = dict(
        img=np.arange(48, dtype=np.uint8).reshape(4, 4, 3), seg_fields=[])
    never = RandomCentreZoom(prob=0.0)
    assert never(dict(sample))['img'] is sample['img']
    np.random.seed(0)
    zoom = RandomCentreZoom()
    draws = [zoom._random_ratio() for _ in range(2000)]
    applied = [r for r in draws if r is not None]
    assert 0.45 < len(applied) / len(draws) < 0.55
    assert 0.75 <= min(applied) and max(applied) <= 1.25
    for bad in (dict(prob=2), dict(ratio_range=(0, 1)),
                dict(ratio_range=(1.2, 0.8)), dict(backend='magick')):
        with pytest.raises(ValueError):
            RandomCentreZoom(**bad)
    assert TRANSFORMS.get('RandomCentreZoom') is RandomCentreZoom


def test_dilate_erode_moves_soft_mask_by_grey_morphology(
        tmp_path, monkeypatch):
    results, mask = grey_mask_sample(tmp_path)
    labels = results['gt_seg_map'].copy()
    for operation, morph in (('dilate', cv2.dilate), ('erode', cv2.erode)):
        step = RandomMaskDilateErode()
        monkeypatch.setattr(step, '_random_operation', lambda: (operation, 3))
        out = step(
            dict(
                results,
                gt_seg_map=labels.copy(),
                **{SOFT_MASK_KEY: mask.copy()}))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        np.testing.assert_array_equal(out[SOFT_MASK_KEY], morph(mask, kernel))
        np.testing.assert_array_equal(out['gt_seg_map'], morph(labels, kernel))


def test_pack_polyp_inputs_adds_the_soft_target(tmp_path):
    results, mask = grey_mask_sample(tmp_path)
    packed = PackPolypInputs()(dict(results))
    soft = getattr(packed['data_samples'], SOFT_TARGET_FIELD).data
    assert soft.dtype == torch.float32 and soft.shape == (1, 60, 84)
    np.testing.assert_allclose(soft[0].numpy(), mask / 255, atol=1e-7)
    del results[SOFT_MASK_KEY]
    plain = PackPolypInputs()(results)['data_samples']
    assert SOFT_TARGET_FIELD not in plain
    assert plain.gt_sem_seg.data.dtype == torch.int64


# Losses ----------------------------------------------------------------------


def test_pixel_dice_bce_hand_values():
    target = torch.ones(1, 1, 1)
    zero = torch.zeros(1, 1, 1, 1)
    # sigmoid_output: z = sigmoid(0) = 0.5; BCE-with-logits(0.5, 1) =
    # log(1 + e^-0.5) = 0.474077; q = sigmoid(0.5) = 0.622459;
    # 1 - (2q + 1) / (q + 2) = 0.143962.
    loss = PixelDiceBCELoss(sigmoid_output=True)(zero, target)
    assert loss.item() == pytest.approx(0.474077 + 0.143962, abs=1e-5)
    # Saturated and right, the official loss still has its floor:
    # z = 1: log(1 + e^-1) + 1 - (2 * 0.731059 + 1) / 2.731059.
    sure = torch.full((1, 1, 1, 1), 50.)
    loss = PixelDiceBCELoss(sigmoid_output=True)(sure, target)
    assert loss.item() == pytest.approx(0.313262 + 0.098474, abs=1e-5)
    # Without the extra sigmoid it goes to 0 there.
    assert PixelDiceBCELoss()(sure, target).item() == pytest.approx(
        0, abs=1e-6)


def test_pixel_dice_bce_is_a_mean_over_pixels():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 5, 7)
    soft = torch.rand(2, 5, 7)
    loss = PixelDiceBCELoss(loss_weight=2.0)(logits, soft)
    q = logits.squeeze(1).sigmoid()
    expected = (F.binary_cross_entropy_with_logits(
        logits.squeeze(1), soft, reduction='none') + 1 - (2 * q * soft + 1) /
                (q + soft + 1)).mean()
    assert loss.item() == pytest.approx(2 * expected.item(), rel=1e-6)
    # Integer labels: ignore pixels are left out of the mean.
    labels = (soft > 0.5).long()
    ignored = labels.clone()
    ignored[:, 0] = 255
    full = PixelDiceBCELoss()(logits[:, :, 1:], labels[:, 1:])
    assert PixelDiceBCELoss()(logits, ignored).item() == pytest.approx(
        full.item(), rel=1e-6)
    with pytest.raises(ValueError, match='N, 1, H, W'):
        PixelDiceBCELoss()(torch.zeros(1, 2, 3, 3), labels[:1, :3, :3])
    assert MODELS.get('PixelDiceBCELoss') is PixelDiceBCELoss


def test_pixel_dice_bce_gradient_pushes_towards_the_target():
    for sigmoid_output in (False, True):
        logits = torch.zeros(1, 1, 1, 2, requires_grad=True)
        PixelDiceBCELoss(sigmoid_output=sigmoid_output)(
            logits, torch.tensor([[[0., 1.]]])).backward()
        assert logits.grad[0, 0, 0, 0] > 0 > logits.grad[0, 0, 0, 1]


def test_binary_dice_takes_soft_targets():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 6, 6)
    labels = torch.randint(0, 2, (2, 6, 6))
    loss = BinaryDiceLoss()
    assert loss(logits, labels.float()).item() == pytest.approx(
        loss(logits, labels).item(), rel=1e-6)
    # p = 0.5 everywhere against t = 0.5 on 4 pixels:
    # 1 - (2 * 1 + 1) / (2 + 2 + 1) = 0.4.
    half = torch.full((1, 2, 2), 0.5)
    assert loss(torch.zeros(1, 1, 2, 2), half).item() == pytest.approx(0.4)


# Configs -------------------------------------------------------------------


def flatten(node, prefix=''):
    if isinstance(node, dict):
        items = {}
        for key, value in node.items():
            items.update(flatten(value, f'{prefix}{key}.'))
        return items
    return {prefix[:-1]: node}


#: What the authors' configs change against ours, by key (the rows of
#: docs/training.md, "The authors' recipe").
AUTHORS_KEYS = {
    'train_dataloader.batch_size', 'train_dataloader.sampler.type',
    'train_dataloader.dataset.pipeline', 'train_dataloader.dataset.holdout',
    'model.decode_head.soft_targets', 'model.decode_head.loss_decode',
    'param_scheduler', 'train_cfg.type', 'train_cfg.max_epochs',
    'train_cfg.max_iters', 'train_cfg.val_interval',
    'val_dataloader.dataset.ann_file', 'val_dataloader.dataset.holdout',
    'default_hooks.checkpoint', 'default_hooks.logger', 'log_processor'
}
#: Top-level helper variables of the authors' configs.
HELPER_KEYS = {'holdout', 'max_epochs'}


def differing_keys(ours, authors):
    a, b = flatten(ours.to_dict()), flatten(authors.to_dict())
    changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    # Report each difference at the level the table names it.
    named = set()
    for key in changed:
        match = [
            k for k in AUTHORS_KEYS | HELPER_KEYS
            if key == k or key.startswith(k + '.')
        ]
        named.add(match[0] if match else key)
    return named


@pytest.mark.parametrize('size', ['s', 'l'])
def test_authors_kvasir_config_differs_only_where_the_table_says(size):
    ours = Config.fromfile(osp.join(CONFIG_DIR, f'ssformer_{size}_kvasir.py'))
    authors = Config.fromfile(
        osp.join(CONFIG_DIR, f'ssformer_{size}_kvasir_authors.py'))
    # The test dataloader is rebuilt (the val one holds the holdout now).
    assert authors.test_dataloader.dataset.ann_file == \
        ours.test_dataloader.dataset.ann_file
    authors.test_dataloader = ours.test_dataloader
    assert differing_keys(ours, authors) <= AUTHORS_KEYS | HELPER_KEYS
    assert authors.train_dataloader.batch_size == 32
    assert authors.train_cfg.max_epochs == 2000
    assert authors.default_hooks.checkpoint.save_best == 'mean/meanDic'
    steps = [s['type'] for s in authors.train_dataloader.dataset.pipeline]
    assert steps[:4] == [
        'LoadPolypImage', 'LoadPolypAnnotations', 'SoftMaskResize',
        'RandomCentreZoom'
    ] and steps[-1] == 'PackPolypInputs'


def test_authors_schedule_is_the_official_one():
    """The learning rate of every epoch: warm-up over epoch 0, then 1e-4 and
    x0.1 at epochs 201, 401, ... (as StepLR(200) after a 1-epoch warm-up)."""
    from mmengine.optim.scheduler import LinearLR, StepLR
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'ssformer_s_pranet_authors.py'))
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)],
                                  lr=cfg.optim_wrapper.optimizer.lr)
    warmup, step = (dict(s) for s in cfg.param_scheduler)
    assert warmup.pop('type') == 'LinearLR' and warmup.pop(
        'convert_to_iter_based')
    assert step.pop('type') == 'StepLR'
    # As mmengine's runner builds them: the warm-up in iterations of the
    # epoch (26, as for 810 frames at batch 32), the steps in epochs.
    iters = 26
    warmup = LinearLR.build_iter_from_epoch(
        optimizer, epoch_length=iters, **warmup)
    step = StepLR(optimizer, **step)
    lrs = []  # at each iteration
    for _ in range(602):
        for _ in range(iters):
            lrs.append(optimizer.param_groups[0]['lr'])
            warmup.step()
        step.step()
    epoch_lr = lrs[::iters]
    assert epoch_lr[0] == pytest.approx(1e-7)
    assert lrs[1:iters] == sorted(lrs[1:iters])  # rising over epoch 0
    assert epoch_lr[1] == epoch_lr[200] == pytest.approx(1e-4)
    assert epoch_lr[201] == epoch_lr[400] == pytest.approx(1e-5)
    assert epoch_lr[401] == pytest.approx(1e-6)


def test_pranet_authors_config_holds_out_of_both_training_sets():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'ssformer_l_pranet_authors.py'))
    train = cfg.train_dataloader.dataset.datasets
    val = cfg.val_dataloader.dataset.datasets
    assert [d.ann_file for d in train] == [d.ann_file for d in val]
    assert [d.holdout.part for d in train] == ['train', 'train']
    assert [d.holdout.part for d in val] == ['val', 'val']
    assert len(cfg.test_dataloader.dataset.datasets) == 5
    assert cfg.model.backbone.num_layers == [3, 8, 27, 3]


def test_authors_pipeline_trains_a_tiny_model(make_tiny_config,
                                              kvasir_like_root):
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    cfg = make_tiny_config('ssformer_s_kvasir_authors.py')
    cfg.train_dataloader.dataset.data_root = str(kvasir_like_root)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 5  # 6 training frames, 1 held out
    model = MODELS.build(cfg.model)
    batch = model.data_preprocessor(
        dict(
            inputs=[dataset[i]['inputs'] for i in range(2)],
            data_samples=[dataset[i]['data_samples'] for i in range(2)]),
        training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'decode.loss_pixel_dice_bce', 'decode.acc_seg'}
    assert torch.isfinite(losses['decode.loss_pixel_dice_bce'])
    soft = batch['data_samples'][0].gt_soft_sem_seg.data
    assert soft.shape == (1, 352, 352) and 0 < soft.mean() < 1


def test_side_by_side_configs_see_the_same_images():
    load = lambda name: Config.fromfile(  # noqa: E731
        osp.join(CONFIG_DIR, 'experiments', name))
    authors = load('ssformer_s_kvasir_authors_scratch_128.py')
    ours = load('ssformer_s_kvasir_ours_scratch_128.py')
    train_frames = len(
        holdout_part(
            STEMS, **{
                k: v
                for k, v in authors.train_dataloader.dataset.holdout.items()
            }))
    assert train_frames == 810
    assert authors.train_cfg.max_epochs * train_frames == \
        ours.train_cfg.max_iters * ours.train_dataloader.batch_size
    for key in ('holdout', 'ann_file'):
        assert authors.train_dataloader.dataset[key] == \
            ours.train_dataloader.dataset[key]
        assert authors.val_dataloader.dataset[key] == \
            ours.val_dataloader.dataset[key]
    assert authors.randomness == ours.randomness
    assert authors.model.backbone == ours.model.backbone
    assert authors.model.backbone.init_cfg is None
    assert authors.optim_wrapper.type == ours.optim_wrapper.type == \
        'OptimWrapper'


# Run records -----------------------------------------------------------------


def test_images_seen_counts_partial_last_batches():
    assert images_seen(10, 16) == 160
    # 810 frames in batches of 32: 26 iterations an epoch, the last of 10.
    assert images_seen(25, 32, 810) == 800
    assert images_seen(26, 32, 810) == 810
    assert images_seen(27, 32, 810) == 842
    assert images_seen(8 * 26, 32, 810) == 6480


def write_run(work_dir, records):
    run = work_dir / '20261203_000000' / 'vis_data'
    run.mkdir(parents=True)
    (run / 'scalars.json').write_text('\n'.join(map(json.dumps, records)))


def test_run_curves_and_comparison_tool(tmp_path, run_tool):
    iteration_cfg = Config(
        dict(
            train_dataloader=dict(batch_size=16),
            train_cfg=dict(type='IterBasedTrainLoop'),
            default_hooks=dict(logger=dict(log_metric_by_epoch=False))))
    write_run(tmp_path / 'ours', [
        dict(loss=1.4, step=10),
        dict(loss=1.0, step=51),
        {
            'Kvasir/meanDic': 0.3,
            'Kvasir/mDice': 0.35,
            'mean/meanDic': 0.3,
            'step': 51
        },
    ])
    curves = run_curves('ours', iteration_cfg, str(tmp_path / 'ours'))
    assert curves.losses['loss'] == [(160, 1.4), (816, 1.0)]
    assert curves.scores == {
        'Kvasir/meanDic': [(816, 0.3)],
        'Kvasir/mDice': [(816, 0.35)]
    }
    test_dir = tmp_path / 'test' / '20261203_000000'
    test_dir.mkdir(parents=True)
    (test_dir / '20261203_000000.json').write_text(
        json.dumps({
            'Kvasir/meanDic': 0.5,
            'Kvasir/mDice': 0.6,
            'Kvasir/meanIoU': 0.4,
            'mean/meanDic': 0.5
        }))
    scores = read_test_scores(str(tmp_path / 'test'))
    table = score_table({'ours, last': scores})
    assert table.splitlines()[0] == \
        '| run | Kvasir meanDic | Kvasir mDice | Kvasir meanIoU |'
    assert table.splitlines()[2] == '| ours, last | 0.5000 | 0.6000 | 0.4000 |'
    with pytest.raises(FileNotFoundError, match='tools/test.py'):
        read_test_scores(str(tmp_path / 'ours'))
    config = tmp_path / 'ours.py'
    iteration_cfg.dump(str(config))
    clinicdb = tmp_path / 'test_clinicdb' / '20261203_000001'
    clinicdb.mkdir(parents=True)
    (clinicdb / '20261203_000001.json').write_text(
        json.dumps({
            'CVC-ClinicDB/meanDic': 0.25,
            'mean/meanDic': 0.25
        }))
    result = run_tool('tools/compare_runs.py', '--run', 'ours', config,
                      tmp_path / 'ours', '--test', 'ours, last',
                      tmp_path / 'test', '--test', 'ours, last',
                      tmp_path / 'test_clinicdb', '--out',
                      tmp_path / 'curves.png')
    assert result.code == 0, result.output
    # One row for the label given twice, with both sets' columns.
    assert '| ours, last | 0.5000 | 0.6000 | 0.4000 | 0.2500 | - | - |' \
        in result.stdout
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None
    result = run_tool('tools/compare_runs.py', '--test', 'x', tmp_path)
    assert result.code == 1 and 'tools/test.py' in result.stderr
