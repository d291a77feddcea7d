"""Tests of the polyp evaluation protocol (``polyp_scores``, ``PolypMetric``).

The module docstring of :mod:`ssformer_mmseg.evaluation.polyp_scores` is the
spec. Hand-made cases are checked against independent plain-numpy
implementations of those definitions (``ref_*`` below); the dataset-level
aggregation is checked against PySODMetrics' own ``get_results``; the mmseg
metric is driven through mmengine's ``Evaluator`` as a test loop would.
"""
import csv
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

import ssformer_mmseg  # noqa: F401  (compat shims, registration)
from ssformer_mmseg.evaluation import PolypMetric
from ssformer_mmseg.evaluation.polyp_metric import foreground_probability
from ssformer_mmseg.evaluation.polyp_scores import (MEAN_ROW, METRIC_NAMES,
                                                    flatten, group_by_set,
                                                    score_image, summarise,
                                                    summarise_set,
                                                    to_uint8_map)
from ssformer_mmseg.evaluation.reports import format_table, write_report

init_default_scope('mmseg')

H, W = 40, 50
N = H * W
EPS = np.spacing(1)


# ---------------------------------------------------------------------------
# Independent reference implementations of the documented definitions
# ---------------------------------------------------------------------------
def ref_normalised(m):
    """Min-max normalised map in [0, 1]; a constant map is left as m/255."""
    p = m.astype(np.float64) / 255
    if p.max() != p.min():
        p = (p - p.min()) / (p.max() - p.min())
    return p


def ref_levels(m):
    """8-bit level of every pixel of the normalised map (truncated)."""
    return (ref_normalised(m) * 255).astype(np.uint8)


def ref_curves(m, g):
    """Dice / IoU at the 256 thresholds 255, 254, ..., 0 (``level >= t``).

    A Dice or IoU whose denominator is 0 counts 0.
    """
    q = ref_levels(m).astype(np.int64)
    gt = np.asarray(g) > 0
    dice, iou = [], []
    for t in range(255, -1, -1):
        b = q >= t
        tp = int(np.sum(b & gt))
        fp = int(np.sum(b & ~gt))
        fn = int(np.sum(~b & gt))
        dice.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.)
        iou.append(tp / (tp + fp + fn) if tp + fp + fn else 0.)
    return np.array(dice), np.array(iou)


def ref_binary(m, g, threshold):
    """Dice / IoU of ``m / 255 > threshold``; empty vs empty scores 1."""
    b = m.astype(np.float64) / 255 > threshold
    gt = np.asarray(g) > 0
    tp = int(np.sum(b & gt))
    fp = int(np.sum(b & ~gt))
    fn = int(np.sum(~b & gt))
    if tp + fp + fn == 0:
        return 1., 1.
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def ref_mae(m, g):
    return float(np.mean(np.abs(ref_normalised(m) - (np.asarray(g) > 0))))


def ref_em_curve(m, g):
    """E-measure (enhanced alignment, pixel by pixel) at the 256 levels."""
    q = ref_levels(m)
    gt = (np.asarray(g) > 0).astype(np.float64)
    n = gt.size
    out = []
    for t in range(255, -1, -1):
        f = (q >= t).astype(np.float64)
        if gt.sum() == 0:
            enhanced = np.sum(1 - f)
        elif gt.sum() == n:
            enhanced = np.sum(f)
        else:
            df, dg = f - f.mean(), gt - gt.mean()
            align = 2 * df * dg / (df * df + dg * dg + EPS)
            enhanced = np.sum((align + 1)**2 / 4)
        out.append(enhanced / (n - 1 + EPS))
    return np.array(out)


def ref_sm(m, g, alpha=0.5):
    """S-measure (Fan et al. 2017, alpha weighting object / region)."""
    p = ref_normalised(m)
    gt = np.asarray(g) > 0
    mu = gt.mean()
    if mu == 0:
        return 1 - p.mean()
    if mu == 1:
        return p.mean()

    def object_score(x):
        mean = x.mean()
        std = x.std(ddof=1) if x.size > 1 else 0.
        return 2 * mean / (mean * mean + 1 + std + EPS)

    s_object = mu * object_score(p[gt]) + (1 - mu) * object_score(1 - p[~gt])

    def ssim(x, y):
        n = x.size
        mx, my = x.mean(), y.mean()
        sx = np.sum((x - mx)**2) / (n - 1 + EPS)
        sy = np.sum((y - my)**2) / (n - 1 + EPS)
        sxy = np.sum((x - mx) * (y - my)) / (n - 1 + EPS)
        a = 4 * mx * my * sxy
        b = (mx * mx + my * my) * (sx + sy)
        if a != 0:
            return a / (b + EPS)
        return 1. if b == 0 else 0.

    h, w = gt.shape
    rows, cols = np.nonzero(gt)
    # Centroid, 0-based, rounded half to even (PySODMetrics' ``np.round``;
    # MATLAB's ``round`` of the 1-based centroid breaks .5 ties away from
    # zero instead), + 1 for the 1-based ``1:Y`` slices.
    y0, x0 = int(np.round(rows.mean())) + 1, int(np.round(cols.mean())) + 1
    gt_f = gt.astype(np.float64)
    w_lt = x0 * y0 / (h * w)
    w_rt = (w - x0) * y0 / (h * w)
    w_lb = x0 * (h - y0) / (h * w)
    w_rb = 1 - w_lt - w_rt - w_lb
    s_region = (
        w_lt * ssim(p[:y0, :x0], gt_f[:y0, :x0]) +
        w_rt * ssim(p[:y0, x0:], gt_f[:y0, x0:]) +
        w_lb * ssim(p[y0:, :x0], gt_f[y0:, :x0]) +
        w_rb * ssim(p[y0:, x0:], gt_f[y0:, x0:]))
    return max(0., alpha * s_object + (1 - alpha) * s_region)


def box_gt(shape=(H, W), rows=(10, 25), cols=(12, 31)):
    g = np.zeros(shape, bool)
    g[rows[0]:rows[1], cols[0]:cols[1]] = True
    return g


def soft_map(rng, gt, lo=20, hi=230, noise=40.):
    """A noisy map, high inside gt, with min > 0 and max < 255."""
    base = np.where(gt, 170., 70.) + rng.normal(0, noise, gt.shape)
    return np.clip(np.rint(base), lo, hi).astype(np.uint8)


def random_case(rng, shape):
    """Random elliptical GT blob and a noisy, blurred, shifted soft map."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.15, 0.3) * h, rng.uniform(0.15, 0.3) * w
    gt = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1
    shift = rng.integers(-3, 4, size=2)
    pred = np.roll(gt, tuple(shift), axis=(0, 1)).astype(np.float64)
    pred = cv2.GaussianBlur(pred, (7, 7), 2) + rng.normal(0, 0.15, shape)
    prob = 1 / (1 + np.exp(-6 * (pred - 0.5)))
    return to_uint8_map(prob), gt


def scalars(score):
    return {k: score[k] for k in ('dice', 'iou', 'sm', 'wfm', 'mae')}


# ---------------------------------------------------------------------------
# 1. Per-image scores equal their definitions
# ---------------------------------------------------------------------------
def test_perfect_binary_map():
    gt = box_gt()
    g = int(gt.sum())
    m = np.where(gt, 255, 0).astype(np.uint8)
    s = score_image(m, gt)
    assert s['dice'] == 1 and s['iou'] == 1
    d0, i0 = 2 * g / (g + N), g / N  # threshold 0: everything
    expected_dice = np.r_[np.ones(255), d0]
    expected_iou = np.r_[np.ones(255), i0]
    np.testing.assert_allclose(
        s['dice_curve'], expected_dice, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        s['iou_curve'], expected_iou, rtol=0, atol=1e-15)
    assert s['dice_curve'].shape == (256, ) == s['em_curve'].shape
    assert s['mae'] == 0
    assert s['sm'] == pytest.approx(1, abs=1e-12)
    assert s['wfm'] == pytest.approx(1, abs=1e-12)
    # E-measure: perfect alignment, normalised by N - 1 (as the toolboxes);
    # everything predicted at threshold 0 -> alignment 0, enhanced 1/4.
    np.testing.assert_allclose(
        s['em_curve'],
        np.r_[np.full(255, N / (N - 1)), N / 4 / (N - 1)],
        rtol=1e-12)

    row = summarise_set([s])
    assert list(row) == list(METRIC_NAMES)
    assert row['mDice'] == row['mIoU'] == 1
    assert row['meanDic'] == pytest.approx((255 * 1 + d0) / 256, abs=1e-12)
    assert row['meanIoU'] == pytest.approx((255 * 1 + i0) / 256, abs=1e-12)
    assert row['maxDic'] == row['maxIoU'] == 1
    assert row['MAE'] == 0
    assert row['maxEm'] == pytest.approx(N / (N - 1), rel=1e-12)
    assert row['meanEm'] == pytest.approx(
        (255 * N / (N - 1) + N / 4 / (N - 1)) / 256, rel=1e-12)


def test_half_wrong_binary_map():
    # GT and prediction: two 20x20 squares overlapping on half their area.
    gt = box_gt(rows=(10, 30), cols=(9, 29))
    pred = box_gt(rows=(10, 30), cols=(19, 39))
    m = np.where(pred, 255, 0).astype(np.uint8)
    s = score_image(m, gt)
    assert s['dice'] == pytest.approx(2 * 200 / 800)
    assert s['iou'] == pytest.approx(200 / 600)
    assert s['mae'] == pytest.approx(400 / N)
    np.testing.assert_allclose(s['dice_curve'][:255], 0.5)
    np.testing.assert_allclose(s['iou_curve'][:255], 1 / 3)
    assert s['dice_curve'][255] == pytest.approx(2 * 400 / (400 + N))
    assert s['iou_curve'][255] == pytest.approx(400 / N)
    np.testing.assert_allclose(s['em_curve'], ref_em_curve(m, gt), rtol=1e-12)
    assert s['sm'] == pytest.approx(ref_sm(m, gt), abs=1e-12)
    assert 0 < s['wfm'] < 1
    row = summarise_set([s])
    assert row['meanDic'] == pytest.approx((255 * 0.5 + 800 / 2400) / 256)
    assert row['maxDic'] == pytest.approx(0.5)
    assert row['maxIoU'] == pytest.approx(1 / 3)


def test_soft_map_curves_follow_truncated_level_definition():
    rng = np.random.default_rng(0)
    gt = box_gt()
    m = soft_map(rng, gt)
    assert 0 < m.min() and m.max() < 255  # normalisation matters
    s = score_image(m, gt)
    dice, iou = ref_curves(m, gt)
    np.testing.assert_array_equal(s['dice_curve'], dice)
    np.testing.assert_array_equal(s['iou_curve'], iou)
    # the curve is non-trivial: it rises and falls
    assert 0 < dice.min() < dice.max() < 1
    np.testing.assert_allclose(s['em_curve'], ref_em_curve(m, gt), rtol=1e-12)
    assert s['mae'] == pytest.approx(ref_mae(m, gt), abs=1e-15)
    assert s['sm'] == pytest.approx(ref_sm(m, gt), abs=1e-12)
    assert (s['dice'], s['iou']) == pytest.approx(
        ref_binary(m, gt, 0.5), abs=1e-15)
    row = summarise_set([s])
    assert row['meanDic'] == pytest.approx(dice.mean(), abs=1e-15)
    assert row['maxDic'] == pytest.approx(dice.max(), abs=1e-15)
    assert row['meanIoU'] == pytest.approx(iou.mean(), abs=1e-15)
    assert row['maxIoU'] == pytest.approx(iou.max(), abs=1e-15)


def test_curves_threshold_the_truncated_8bit_level():
    """Levels are ``(normalised * 255).astype(uint8)`` (PySODMetrics).

    With min 0 and max 35, a pixel of 7 is exactly 0.2 = 51/255 once
    normalised, but in floating point it truncates to level 50: it is
    counted from threshold 50/255 on, not 51/255.
    """
    gt = np.zeros((4, 5), bool)
    gt[0, :3] = True
    m = np.zeros((4, 5), np.uint8)
    m[0, 0], m[0, 1], m[1, 1] = 35, 7, 7
    assert ref_levels(m)[0, 1] == 50
    s = score_image(m, gt)
    dice, _ = ref_curves(m, gt)
    np.testing.assert_array_equal(s['dice_curve'], dice)
    # index 255 - t holds threshold t: at t=51 only the max pixel is found
    assert s['dice_curve'][255 - 51] == pytest.approx(2 * 1 / (1 + 3))
    assert s['dice_curve'][255 - 50] == pytest.approx(2 * 2 / (3 + 3))


@pytest.mark.parametrize('threshold', [0.5, 0.3, 0.72, 128 / 255, 77 / 255])
def test_mdice_miou_at_threshold(threshold):
    rng = np.random.default_rng(1)
    gt = box_gt()
    m = rng.integers(0, 256, size=(H, W)).astype(np.uint8)
    m[gt] = np.maximum(m[gt], 90)
    s = score_image(m, gt, threshold=threshold)
    dice, iou = ref_binary(m, gt, threshold)
    assert s['dice'] == pytest.approx(dice, abs=1e-15)
    assert s['iou'] == pytest.approx(iou, abs=1e-15)
    # the threshold applies to the raw 8-bit map, not the normalised one,
    # and does not affect the threshold-free scores
    base = score_image(m, gt)
    for key in ('sm', 'wfm', 'mae'):
        assert s[key] == base[key]
    np.testing.assert_array_equal(s['dice_curve'], base['dice_curve'])


def test_mdice_threshold_is_strict_on_the_8bit_map():
    gt = np.zeros((H, W), bool)
    gt[:, :25] = True
    m = np.zeros((H, W), np.uint8)
    m[:, :25] = 128  # 128/255 > 0.5: found
    m[:, 25:] = 127  # 127/255 < 0.5: not found
    assert score_image(m, gt)['dice'] == 1
    m[:, :25] = 127  # nothing found at 0.5, but GT non-empty
    assert score_image(m, gt)['dice'] == 0
    # with threshold 127/255 a pixel of exactly 127 is not above it
    assert score_image(m, gt, threshold=127 / 255)['dice'] == 0
    assert score_image(
        m, gt, threshold=126 / 255)['dice'] == pytest.approx(2 * 1000 / 3000)


def test_empty_gt_and_empty_prediction():
    gt = np.zeros((H, W), bool)
    m = np.zeros((H, W), np.uint8)
    s = score_image(m, gt)
    assert s['dice'] == 1 and s['iou'] == 1
    # toolbox curves: every denominator 0 (thresholds > 0) or Dice 0/N
    np.testing.assert_array_equal(s['dice_curve'], np.zeros(256))
    np.testing.assert_array_equal(s['iou_curve'], np.zeros(256))
    assert s['wfm'] == 0
    assert s['sm'] == 1
    assert s['mae'] == 0
    np.testing.assert_allclose(s['em_curve'], ref_em_curve(m, gt), rtol=1e-12)
    row = summarise_set([s])
    assert row['mDice'] == 1 and row['meanDic'] == 0 and row['maxDic'] == 0


def test_empty_gt_soft_map_below_threshold():
    # Nothing above 0.5: mDice 1; but the normalised map reaches 1, so the
    # toolbox curves find false positives at every threshold.
    rng = np.random.default_rng(2)
    gt = np.zeros((H, W), np.uint8)
    m = rng.integers(0, 100, size=(H, W)).astype(np.uint8)
    s = score_image(m, gt)
    assert s['dice'] == 1 and s['iou'] == 1
    dice, iou = ref_curves(m, gt)
    np.testing.assert_array_equal(s['dice_curve'], dice)
    assert not dice.any() and not iou.any()
    assert s['wfm'] == 0
    assert s['sm'] == pytest.approx(1 - ref_normalised(m).mean())
    assert s['mae'] == pytest.approx(ref_mae(m, gt))


def test_empty_gt_non_empty_prediction():
    gt = np.zeros((H, W), bool)
    m = np.zeros((H, W), np.uint8)
    m[5:10, 5:10] = 200
    s = score_image(m, gt)
    assert s['dice'] == 0 and s['iou'] == 0
    assert s['wfm'] == 0
    assert s['sm'] == pytest.approx(1 - 25 / N)
    assert s['mae'] == pytest.approx(25 / N)
    np.testing.assert_array_equal(s['dice_curve'], np.zeros(256))


def test_non_empty_gt_empty_prediction():
    gt = box_gt()
    s = score_image(np.zeros((H, W), np.uint8), gt)
    assert s['dice'] == 0 and s['iou'] == 0
    assert s['wfm'] == pytest.approx(0, abs=1e-12)  # GT away from the border


@pytest.mark.parametrize('value', [0, 255, 128])
def test_constant_maps_are_not_normalised(value):
    gt = box_gt()
    g = int(gt.sum())
    m = np.full((H, W), value, np.uint8)
    s = score_image(m, gt)
    # the map keeps its value: 0 stays 0, 255 stays 1, 128 stays 128/255
    assert s['mae'] == pytest.approx(np.mean(np.abs(value / 255 - gt)))
    everything = 2 * g / (g + N)
    expected = np.where(np.arange(255, -1, -1) <= value, everything, 0.)
    np.testing.assert_allclose(s['dice_curve'], expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(s['dice_curve'], ref_curves(m, gt)[0])
    assert s['dice'] == (everything if value > 127 else 0)
    assert np.isfinite(s['sm']) and np.isfinite(s['wfm'])
    np.testing.assert_allclose(s['em_curve'], ref_em_curve(m, gt), rtol=1e-12)


def test_constant_255_map_with_full_gt():
    gt = np.ones((H, W), bool)
    s = score_image(np.full((H, W), 255, np.uint8), gt)
    assert s['dice'] == 1 and s['mae'] == 0 and s['sm'] == 1
    np.testing.assert_array_equal(s['dice_curve'], np.ones(256))


@pytest.mark.parametrize('kind', ['bool', '01', '0255', 'int64'])
def test_gt_encodings_agree(kind):
    rng = np.random.default_rng(3)
    gt = box_gt()
    m = soft_map(rng, gt)
    ref = score_image(m, gt)
    encoded = dict(
        bool=gt,
        int64=gt.astype(np.int64),
        **{
            '01': gt.astype(np.uint8),
            '0255': gt.astype(np.uint8) * 255
        })
    s = score_image(m, encoded[kind])
    assert scalars(s) == scalars(ref)
    for key in ('dice_curve', 'iou_curve', 'em_curve'):
        np.testing.assert_array_equal(s[key], ref[key])


def test_score_image_metadata_and_errors():
    gt = box_gt()
    m = np.where(gt, 255, 0).astype(np.uint8)
    s = score_image(m, gt, dataset='Kvasir', name='cju0')
    assert s['dataset'] == 'Kvasir' and s['name'] == 'cju0'
    with pytest.raises(ValueError, match='uint8'):
        score_image(m.astype(np.float32) / 255, gt)
    with pytest.raises(ValueError, match='2-D'):
        score_image(m[None], gt[None])
    with pytest.raises(ValueError, match='50x40'):
        score_image(m, gt[:, :-1])


# ---------------------------------------------------------------------------
# 2. Aggregation over a set equals PySODMetrics' dataset-level results
# ---------------------------------------------------------------------------
def _random_set(seed, count=5):
    rng = np.random.default_rng(seed)
    shapes = [(40, 50), (36, 44), (48, 40), (30, 30), (44, 52), (38, 47)]
    return [random_case(rng, shapes[i % len(shapes)]) for i in range(count)]


def test_summarise_set_equals_pysodmetrics_get_results():
    import py_sod_metrics as sod
    cases = _random_set(4, count=6)
    gt_empty = np.zeros((32, 36), bool)
    rng = np.random.default_rng(5)
    cases.append((soft_map(rng, gt_empty), gt_empty))  # an empty GT too

    scores = [score_image(m, g) for m, g in cases]
    row = summarise_set(scores)

    dice = sod.DICEHandler(with_dynamic=True, with_adaptive=False)
    iou = sod.IOUHandler(with_dynamic=True, with_adaptive=False)
    fm = sod.FmeasureV2(metric_handlers=dict(dice=dice, iou=iou))
    sm, em = sod.Smeasure(), sod.Emeasure()
    wfm, mae = sod.WeightedFmeasure(), sod.MAE()
    for m, g in cases:
        g255 = np.where(g, 255, 0).astype(np.uint8)
        for measure in (fm, sm, em, wfm, mae):
            measure.step(m, g255)
    curves = fm.get_results()
    em_curve = em.get_results()['em']['curve']
    expected = dict(
        Sm=sm.get_results()['sm'],
        wFm=wfm.get_results()['wfm'],
        MAE=mae.get_results()['mae'],
        meanEm=em_curve.mean(),
        maxEm=em_curve.max(),
        meanDic=curves['dice']['dynamic'].mean(),
        maxDic=curves['dice']['dynamic'].max(),
        meanIoU=curves['iou']['dynamic'].mean(),
        maxIoU=curves['iou']['dynamic'].max())
    for key, value in expected.items():
        assert row[key] == pytest.approx(float(value), abs=1e-6), key

    # and the same from the independent reference curves
    ref = [ref_curves(m, g) for m, g in cases]
    mean_dice = np.mean([d for d, _ in ref], axis=0)
    mean_iou = np.mean([i for _, i in ref], axis=0)
    assert row['meanDic'] == pytest.approx(mean_dice.mean(), abs=1e-12)
    assert row['maxDic'] == pytest.approx(mean_dice.max(), abs=1e-12)
    assert row['meanIoU'] == pytest.approx(mean_iou.mean(), abs=1e-12)
    assert row['maxIoU'] == pytest.approx(mean_iou.max(), abs=1e-12)
    binary = [ref_binary(m, g, 0.5) for m, g in cases]
    assert row['mDice'] == pytest.approx(np.mean([d for d, _ in binary]))
    assert row['mIoU'] == pytest.approx(np.mean([i for _, i in binary]))
    assert row['MAE'] == pytest.approx(
        np.mean([ref_mae(m, g) for m, g in cases]), abs=1e-12)
    assert all(isinstance(v, float) for v in row.values())


def test_max_dice_is_max_of_mean_curve_not_mean_of_maxima():
    gt = box_gt()
    # Image A: GT at 255, some false positives at 128: perfect above 0.5.
    a = np.where(gt, 255, 0).astype(np.uint8)
    a[30:35, 0:40] = 128
    # Image B: GT at 128, false positives at 255: found only below 0.5.
    b = np.where(gt, 128, 0).astype(np.uint8)
    b[30:35, 0:10] = 255
    scores = [score_image(a, gt), score_image(b, gt)]
    row = summarise_set(scores)
    curves = np.array([s['dice_curve'] for s in scores])
    max_of_mean = curves.mean(axis=0).max()
    mean_of_max = curves.max(axis=1).mean()
    assert mean_of_max - max_of_mean > 0.05  # the two really differ here
    assert row['maxDic'] == pytest.approx(max_of_mean, abs=1e-15)
    iou_curves = np.array([s['iou_curve'] for s in scores])
    assert row['maxIoU'] == pytest.approx(iou_curves.mean(0).max(), abs=1e-15)
    assert row['maxIoU'] < iou_curves.max(axis=1).mean() - 0.05


def test_summarise_set_rejects_empty():
    with pytest.raises(ValueError):
        summarise_set([])


# ---------------------------------------------------------------------------
# 3. summarise / flatten / format_table
# ---------------------------------------------------------------------------
def _two_set_scores():
    cases = _random_set(6, count=5)
    sets = ['Kvasir', 'CVC-300', 'Kvasir', 'Kvasir', 'CVC-300']
    return [
        score_image(m, g, dataset=d, name=f'img{i}')
        for i, ((m, g), d) in enumerate(zip(cases, sets))
    ]


def test_summarise_rows_and_unweighted_mean():
    scores = _two_set_scores()
    groups = group_by_set(scores)
    assert list(groups) == ['Kvasir', 'CVC-300']  # first appearance
    assert [s['name'] for s in groups['Kvasir']] == ['img0', 'img2', 'img3']
    summary = summarise(scores)
    assert list(summary) == ['Kvasir', 'CVC-300', MEAN_ROW]
    for name in ('Kvasir', 'CVC-300'):
        assert summary[name] == summarise_set(groups[name])
    for metric in METRIC_NAMES:
        assert summary[MEAN_ROW][metric] == pytest.approx(
            (summary['Kvasir'][metric] + summary['CVC-300'][metric]) / 2,
            abs=1e-15)
    # each set counts once, whatever its size: not the per-image mean
    pooled = summarise_set(scores)
    assert summary[MEAN_ROW]['mDice'] != pytest.approx(pooled['mDice'])


def test_flatten_keys():
    summary = summarise(_two_set_scores())
    flat = flatten(summary)
    assert len(flat) == 3 * len(METRIC_NAMES)
    assert flat['Kvasir/meanDic'] == summary['Kvasir']['meanDic']
    assert flat['CVC-300/maxEm'] == summary['CVC-300']['maxEm']
    assert flat['mean/MAE'] == summary[MEAN_ROW]['MAE']
    assert list(flat)[:2] == ['Kvasir/mDice', 'Kvasir/mIoU']


def test_format_table():
    scores = _two_set_scores()
    summary = summarise(scores)
    counts = {k: len(v) for k, v in group_by_set(scores).items()}
    text = format_table(summary, counts)
    assert '0-1 scale' in text
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if cells and cells[0] in ('Kvasir', 'CVC-300', MEAN_ROW):
            rows[cells[0]] = cells
    assert rows['Kvasir'][1] == '3'
    assert rows['CVC-300'][1] == '2'
    assert rows[MEAN_ROW][1] == '5'
    for metric in METRIC_NAMES:
        assert metric in text
    col = 2 + METRIC_NAMES.index('meanDic')
    assert rows['Kvasir'][col] == f"{summary['Kvasir']['meanDic']:.4f}"


# ---------------------------------------------------------------------------
# 4. write_report
# ---------------------------------------------------------------------------
def test_write_report(tmp_path):
    scores = _two_set_scores()
    files = write_report(scores, str(tmp_path / 'report'))
    assert [osp.basename(f) for f in files] == [
        'per_image.csv', 'dice_vs_threshold.png', 'dice_vs_threshold.csv',
        'scores.json', 'scores.csv'
    ]
    with open(files[0], newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        'test_set', 'image', 'mDice', 'mIoU', 'meanDic', 'meanIoU', 'maxDic',
        'maxIoU', 'Sm', 'meanEm', 'maxEm', 'wFm', 'MAE'
    ]
    assert len(rows) == 1 + len(scores)
    for row, s in zip(rows[1:], scores):
        assert row[:2] == [s['dataset'], s['name']]
        expected = [
            s['dice'], s['iou'], s['dice_curve'].mean(), s['iou_curve'].mean(),
            s['dice_curve'].max(), s['iou_curve'].max(), s['sm'],
            s['em_curve'].mean(), s['em_curve'].max(), s['wfm'], s['mae']
        ]
        np.testing.assert_allclose([float(v) for v in row[2:]],
                                   expected,
                                   rtol=0,
                                   atol=5.1e-7)
    img = cv2.imread(files[1])
    assert img is not None and img.ndim == 3 and img.shape[0] > 100
    # The curves as numbers: each set's mean Dice at thresholds 1 .. 0.
    with open(files[2], newline='') as f:
        curves = list(csv.DictReader(f))
    assert [float(r['threshold']) for r in curves] == pytest.approx(
        np.arange(255, -1, -1) / 255, abs=1e-6)
    for name in {s['dataset'] for s in scores}:
        expected = np.mean(
            [s['dice_curve'] for s in scores if s['dataset'] == name], axis=0)
        np.testing.assert_allclose([float(r[name]) for r in curves],
                                   expected,
                                   atol=5.1e-7)


# ---------------------------------------------------------------------------
# 5. PolypMetric through mmengine's Evaluator
# ---------------------------------------------------------------------------
def make_sample(seg_logits, gt, path, dataset_name='Kvasir', pred=True):
    """A SegDataSample as mmseg's test loop hands it to the evaluator."""
    seg_logits = torch.as_tensor(seg_logits, dtype=torch.float32)
    meta = dict(
        img_path=path,
        seg_map_path=path.replace('images', 'masks'),
        ori_shape=tuple(gt.shape))
    if dataset_name is not None:
        meta['dataset_name'] = dataset_name
    sample = SegDataSample(metainfo=meta)
    sample.seg_logits = PixelData(data=seg_logits)
    sample.gt_sem_seg = PixelData(
        data=torch.as_tensor(np.asarray(gt, np.int64))[None])
    if pred:
        label = (
            seg_logits.argmax(0, keepdim=True) if seg_logits.shape[0] > 1 else
            (seg_logits > 0.5).long())
        sample.pred_sem_seg = PixelData(data=label.long())
    return sample


def _prob_cases(seed, count):
    """Float probabilities (not yet 8-bit) with {0, 1} GTs."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        shape = [(40, 50), (36, 44), (44, 38)][i % 3]
        _, gt = random_case(rng, shape)
        noisy = cv2.GaussianBlur(gt.astype(np.float64), (5, 5), 2)
        prob = np.clip(noisy + rng.normal(0, 0.1, shape), 0, 1)
        out.append((prob.astype(np.float32), gt.astype(np.uint8)))
    return out


def test_polyp_metric_registered():
    assert METRICS.get('PolypMetric') is PolypMetric
    metric = METRICS.build(dict(type='PolypMetric', threshold=0.4))
    assert isinstance(metric, PolypMetric) and metric.threshold == 0.4


def test_polyp_metric_two_sets_export_and_report(tmp_path):
    maps_dir = str(tmp_path / 'maps')
    report_dir = str(tmp_path / 'report')
    evaluator = Evaluator([
        dict(type='PolypMetric', prob_map_dir=maps_dir, report_dir=report_dir)
    ])
    evaluator.dataset_meta = dict(classes=('background', 'polyp'))
    cases = _prob_cases(7, 5)
    sets = ['Kvasir', 'CVC-ClinicDB', 'Kvasir', 'CVC-ClinicDB', 'Kvasir']
    samples = [
        make_sample(p[None], g, f'/data/{d}/images/case{i}.jpg', d)
        for i, ((p, g), d) in enumerate(zip(cases, sets))
    ]
    evaluator.process(data_samples=samples[:2], data_batch=None)
    evaluator.process(data_samples=samples[2:], data_batch=None)
    results = evaluator.evaluate(len(samples))

    expected_scores = [
        score_image(to_uint8_map(p), g, 0.5, d, f'case{i}')
        for i, ((p, g), d) in enumerate(zip(cases, sets))
    ]
    expected = flatten(summarise(expected_scores))
    assert list(results) == list(expected)
    assert {k.split('/')[0]
            for k in results} == {'Kvasir', 'CVC-ClinicDB', 'mean'}
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-12), key
    for metric in METRIC_NAMES:
        assert results[f'mean/{metric}'] == pytest.approx(
            (results[f'Kvasir/{metric}'] + results[f'CVC-ClinicDB/{metric}']) /
            2,
            abs=1e-12)

    # exported 8-bit maps: <dir>/<set>/<stem>.png, equal to to_uint8_map
    rescored = []
    for i, ((p, g), d) in enumerate(zip(cases, sets)):
        path = osp.join(maps_dir, d, f'case{i}.png')
        assert osp.isfile(path), path
        disk = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert disk.dtype == np.uint8 and disk.shape == g.shape
        np.testing.assert_array_equal(disk, to_uint8_map(p))
        rescored.append(score_image(disk, g, 0.5, d, f'case{i}'))
    # scoring the maps from disk reproduces the metric exactly
    assert flatten(summarise(rescored)) == results

    csv_path = osp.join(report_dir, 'per_image.csv')
    png_path = osp.join(report_dir, 'dice_vs_threshold.png')
    assert osp.isfile(csv_path) and cv2.imread(png_path) is not None
    with open(csv_path, newline='') as f:
        rows = list(csv.reader(f))[1:]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (d, f'case{i}') for i, d in enumerate(sets))
    # The intervals of the logged table, in scores.json: the metric's
    # default bootstrap on the same per-image scores.
    from ssformer_mmseg.evaluation.intervals import score_intervals
    from ssformer_mmseg.evaluation.reports import ScoreReport
    saved = ScoreReport.read(report_dir)
    assert saved.intervals.bounds == score_intervals(expected_scores).bounds
    assert saved.summary['Kvasir']['meanDic'] == results['Kvasir/meanDic']


def test_polyp_metric_intervals_can_be_turned_off(tmp_path):
    evaluator = Evaluator([
        dict(
            type='PolypMetric',
            report_dir=str(tmp_path),
            bootstrap_resamples=0)
    ])
    evaluator.dataset_meta = dict(classes=('background', 'polyp'))
    samples = [
        make_sample(p[None], g, f'/data/Kvasir/images/case{i}.jpg', 'Kvasir')
        for i, (p, g) in enumerate(_prob_cases(3, 4))
    ]
    evaluator.process(data_samples=samples, data_batch=None)
    evaluator.evaluate(len(samples))
    from ssformer_mmseg.evaluation.reports import ScoreReport
    assert ScoreReport.read(str(tmp_path)).intervals is None


def test_polyp_metric_accepts_dict_samples_and_threshold():
    cases = _prob_cases(8, 3)
    metric = METRICS.build(dict(type='PolypMetric', threshold=0.3))
    metric.dataset_meta = dict(classes=('background', 'polyp'))
    samples = [
        make_sample(p[None], g, f'/x/images/a{i}.png').to_dict()
        for i, (p, g) in enumerate(cases)
    ]
    metric.process(None, samples)
    results = metric.evaluate(3)
    maps = [to_uint8_map(p) for p, _ in cases]
    expected = np.mean(
        [ref_binary(m, g, 0.3)[0] for m, (_, g) in zip(maps, cases)])
    assert results['Kvasir/mDice'] == pytest.approx(expected, abs=1e-12)
    # one set: the mean row repeats it
    assert results['mean/mDice'] == results['Kvasir/mDice']


def test_one_channel_is_used_as_probability_without_sigmoid():
    prob = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    out = foreground_probability(torch.from_numpy(prob)[None])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, prob)
    half = foreground_probability(torch.from_numpy(prob)[None].half())
    np.testing.assert_allclose(half, prob, atol=1e-3)


def test_two_channel_logits_use_softmax(tmp_path):
    rng = np.random.default_rng(9)
    logits = rng.normal(0, 3, size=(2, H, W)).astype(np.float32)
    gt = box_gt().astype(np.uint8)
    expected_prob = 1 / (1 +
                         np.exp(-(logits[1].astype(np.float64) - logits[0])))
    prob = foreground_probability(torch.from_numpy(logits))
    np.testing.assert_allclose(prob, expected_prob, atol=1e-6)

    maps_dir = str(tmp_path / 'maps')
    evaluator = Evaluator([dict(type='PolypMetric', prob_map_dir=maps_dir)])
    evaluator.process(
        data_samples=[make_sample(logits, gt, '/d/images/x.jpg', 'ETIS')],
        data_batch=None)
    results = evaluator.evaluate(1)
    disk = cv2.imread(
        osp.join(maps_dir, 'ETIS', 'x.png'), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(disk, to_uint8_map(prob))
    # float32 softmax vs float64: the 8-bit maps agree up to rounding ties
    assert np.abs(disk.astype(int) - to_uint8_map(expected_prob)).max() <= 1
    expected = flatten(summarise([score_image(disk, gt, 0.5, 'ETIS', 'x')]))
    assert results == expected
    assert results['ETIS/mDice'] == pytest.approx(
        ref_binary(to_uint8_map(expected_prob), gt, 0.5)[0], abs=0.01)


def test_size_mismatch_names_the_image():
    metric = PolypMetric()
    prob = np.full((1, H, W), 0.7, np.float32)
    gt = np.zeros((H, W + 3), np.uint8)
    sample = make_sample(prob, gt, '/data/Kvasir/images/bad_one.jpg')
    evaluator = Evaluator([metric])
    with pytest.raises(ValueError, match='bad_one.jpg'):
        evaluator.process(data_samples=[sample], data_batch=None)


def test_three_classes_are_rejected():
    evaluator = Evaluator([dict(type='PolypMetric')])
    sample = make_sample(np.zeros((3, H, W), np.float32), box_gt(), '/a.jpg')
    with pytest.raises(ValueError, match='3 classes'):
        evaluator.process(data_samples=[sample], data_batch=None)
    with pytest.raises(ValueError, match='3 classes'):
        foreground_probability(torch.zeros(3, 4, 4))


def test_with_iou_metric_in_one_evaluator():
    evaluator = Evaluator([
        dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice']),
        dict(type='PolypMetric')
    ])
    evaluator.dataset_meta = dict(classes=('background', 'polyp'))
    cases = _prob_cases(10, 3)
    samples = [
        make_sample(p[None], g, f'/d/images/s{i}.jpg', 'Kvasir')
        for i, (p, g) in enumerate(cases)
    ]
    evaluator.process(data_samples=samples, data_batch=None)
    results = evaluator.evaluate(3)
    assert {'aAcc', 'mIoU', 'mDice', 'Kvasir/mIoU', 'mean/mDice'
            } <= set(results)
    expected = flatten(
        summarise([
            score_image(to_uint8_map(p), g, 0.5, 'Kvasir', f's{i}')
            for i, (p, g) in enumerate(cases)
        ]))
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-12)
    assert 0 <= results['mIoU'] <= 100  # mmseg's own, percent, pooled


def test_prefix_is_applied():
    evaluator = Evaluator([dict(type='PolypMetric', prefix='polyp')])
    p, g = _prob_cases(11, 1)[0]
    evaluator.process(
        data_samples=[make_sample(p[None], g, '/d/images/q.jpg', 'Kvasir')])
    results = evaluator.evaluate(1)
    assert 'polyp/Kvasir/meanDic' in results and 'polyp/mean/MAE' in results


@pytest.mark.parametrize('meta, expected_set', [
    (dict(classes=('background', 'polyp'), dataset_name='CVC-300'), 'CVC-300'),
    (dict(classes=('background', 'polyp')), 'Polyp'),
])
def test_set_name_falls_back_to_dataset_meta(meta, expected_set):
    evaluator = Evaluator([dict(type='PolypMetric')])
    evaluator.dataset_meta = meta
    p, g = _prob_cases(12, 1)[0]
    evaluator.process(
        data_samples=[make_sample(p[None], g, '/d/images/q.jpg', None)])
    results = evaluator.evaluate(1)
    assert f'{expected_set}/meanDic' in results


def test_set_name_fallback_without_dataset_meta():
    evaluator = Evaluator([dict(type='PolypMetric')])
    p, g = _prob_cases(13, 1)[0]
    evaluator.process(
        data_samples=[make_sample(p[None], g, '/d/images/q.jpg', None)])
    assert 'Polyp/meanDic' in evaluator.evaluate(1)


# ---------------------------------------------------------------------------
# 6. to_uint8_map
# ---------------------------------------------------------------------------
def test_to_uint8_map_rounding_and_clipping():
    levels = np.arange(256) / 255
    out = to_uint8_map(levels)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.arange(256))
    k = np.arange(255)
    np.testing.assert_array_equal(to_uint8_map((k + 0.4) / 255), k)
    np.testing.assert_array_equal(to_uint8_map((k + 0.6) / 255), k + 1)
    np.testing.assert_array_equal(
        to_uint8_map(np.array([-0.5, -1e-9, 1 + 1e-9, 1.7, 100.])),
        [0, 0, 255, 255, 255])
    assert to_uint8_map(np.float32(0.5)) == 128  # 127.5, rounded half-even
    prob = np.random.default_rng(14).random((H, W)).astype(np.float32)
    out = to_uint8_map(prob)
    assert out.shape == (H, W)
    assert np.abs(out - prob.astype(np.float64) * 255).max() <= 0.5 + 1e-9
    assert to_uint8_map(torch.tensor([[0.25]]).numpy()).tolist() == [[64]]
