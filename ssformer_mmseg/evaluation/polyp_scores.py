"""The polyp evaluation protocol: per-image scores, per-set summaries, reports.

Every score is computed per image, on the 8-bit foreground probability map
at the ground truth's resolution, and then averaged over the images of a
test set (never pooled over pixels). Working on the 8-bit map means that
maps exported by :class:`~ssformer_mmseg.evaluation.PolypMetric` and scored
again from disk (``tools/eval_maps.py``) give exactly the same numbers.

Metrics, all on the 0-1 scale polyp papers use:

* ``mDice``, ``mIoU``: Dice and IoU of the map binarised at ``threshold``
  (``map / 255 > threshold``). An empty ground truth with an empty
  prediction scores 1, with a non-empty prediction 0.
* ``meanDic``, ``meanIoU``, ``maxDic``, ``maxIoU``: the PraNet / Polyp-PVT
  toolbox protocol. The map is min-max normalised, binarised with ``>=`` at
  the 256 thresholds 1, 1 - 1/255, ..., 0, Dice / IoU are computed at each
  threshold, the per-threshold curves are averaged over the images, and the
  mean / max of that curve is reported. As in the toolbox, a Dice or IoU
  whose denominator is 0 (empty ground truth, empty binarised map) counts 0.
  PySODMetrics compares ``floor(255 * normalised map)`` with the integer
  thresholds, so a pixel whose normalised value lands exactly on a threshold
  can, through float rounding, fall one level lower than in MATLAB; on
  random maps this moved ``meanDic`` by at most 1.4e-4.
* ``Sm`` (S-measure, alpha 0.5), ``meanEm`` / ``maxEm`` (E-measure curve over
  the same thresholds, averaged over images, then its mean / max; as in the
  toolboxes it divides by N - 1 pixels, so a perfect map scores N / (N - 1),
  a hair above 1), ``wFm`` (weighted F-measure, beta^2 = 1; 0 for an empty
  ground truth) and ``MAE`` (on the normalised map).

Known differences from the MATLAB toolboxes, all inherited from
PySODMetrics: the S-measure rounds the ground-truth centroid half-to-even
where MATLAB rounds half away from zero (only centroids exactly on .5 differ;
0.009 on a constructed box pair), and the curve thresholding noted above.

Sm, Em, wFm, MAE and the threshold curves come from PySODMetrics
(``py_sod_metrics``), the maintained implementation of these toolboxes. Like
the toolboxes, it leaves a constant map (max = min) un-normalised: a map that
is 0 everywhere stays 0, one that is 255 everywhere stays 1.
"""
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np

from .._deprecation import moved_names
from ..datasets.polyp_files import check_sizes_match

#: How each reported metric is made from the per-image scores, in table
#: order: the per-image quantity, and how a set's value follows from it.
#: ``None``: the mean of a per-image scalar. ``'mean'`` / ``'max'``: the
#: mean / max over thresholds of the images' mean curve (the toolboxes'
#: order: curves are averaged over images first). ``'mean'`` equals the mean
#: of each image's own curve mean; ``'max'`` does not, so a max metric is
#: computed from the curves.
METRIC_SOURCES = OrderedDict(
    mDice=('dice', None),
    mIoU=('iou', None),
    meanDic=('dice_curve', 'mean'),
    meanIoU=('iou_curve', 'mean'),
    maxDic=('dice_curve', 'max'),
    maxIoU=('iou_curve', 'max'),
    Sm=('sm', None),
    meanEm=('em_curve', 'mean'),
    maxEm=('em_curve', 'max'),
    wFm=('wfm', None),
    MAE=('mae', None))
#: Reported metrics, in table order.
METRIC_NAMES = tuple(METRIC_SOURCES)
#: Name of the row averaging the test sets (unweighted: each set counts 1).
MEAN_ROW = 'mean'


def to_uint8_map(prob: np.ndarray) -> np.ndarray:
    """Foreground probabilities in [0, 1] as an 8-bit map (rounded)."""
    return np.clip(np.rint(np.asarray(prob, np.float64) * 255), 0,
                   255).astype(np.uint8)


def _overlap(pred: np.ndarray, gt: np.ndarray) -> tuple:
    inter = np.count_nonzero(pred & gt)
    total = np.count_nonzero(pred) + np.count_nonzero(gt)
    if total == 0:
        return 1.0, 1.0  # nothing to find, nothing found
    return 2 * inter / total, inter / (total - inter)


def score_image(prob_map: np.ndarray,
                gt: np.ndarray,
                threshold: float = 0.5,
                dataset: str = '',
                name: str = '') -> dict:
    """Score one 8-bit probability map against its ground truth.

    Args:
        prob_map (np.ndarray): (H, W) uint8 foreground probability map.
        gt (np.ndarray): (H, W) ground truth, polyp where non-zero.
        threshold (float): Threshold of ``mDice`` / ``mIoU``. Default: 0.5.
        dataset (str): Test set of the image, for the summary.
        name (str): Image name, for the per-image report.

    Returns:
        dict: Scalars (``dice``, ``iou``, ``sm``, ``wfm``, ``mae``), the
        256-point curves (``dice_curve``, ``iou_curve``, ``em_curve``, from
        threshold 1 down to 0), ``dataset`` and ``name``.

    Raises:
        ValueError: If the map is not 2-D uint8 or the shapes differ.
    """
    import py_sod_metrics as sod

    if prob_map.dtype != np.uint8 or prob_map.ndim != 2:
        raise ValueError('expected a 2-D uint8 probability map, got '
                         f'{prob_map.dtype} {prob_map.shape}')
    check_sizes_match(name or 'image', 'map', prob_map.shape, 'ground truth',
                      None, gt.shape)
    gt_map = np.where(gt > 0, 255, 0).astype(np.uint8)
    dice, iou = _overlap(prob_map > threshold * 255, gt_map > 0)

    dice_handler = sod.DICEHandler(with_dynamic=True, with_adaptive=False)
    iou_handler = sod.IOUHandler(with_dynamic=True, with_adaptive=False)
    curves = sod.FmeasureV2(
        metric_handlers=dict(dice=dice_handler, iou=iou_handler))
    measures = dict(
        sm=sod.Smeasure(alpha=0.5),
        em=sod.Emeasure(),
        wfm=sod.WeightedFmeasure(beta=1),
        mae=sod.MAE(),
        curves=curves)
    for measure in measures.values():
        measure.step(prob_map, gt_map)
    return dict(
        dataset=dataset,
        name=name,
        dice=float(dice),
        iou=float(iou),
        sm=float(measures['sm'].sms[0]),
        wfm=float(measures['wfm'].weighted_fms[0]),
        mae=float(measures['mae'].maes[0]),
        dice_curve=np.asarray(dice_handler.dynamic_results[0], np.float64),
        iou_curve=np.asarray(iou_handler.dynamic_results[0], np.float64),
        em_curve=np.asarray(measures['em'].changeable_ems[0], np.float64))


def per_image_values(scores: Sequence[dict]) -> Dict[str, np.ndarray]:
    """Every metric's value on each image alone (``per_image.csv``): a
    curve metric is the mean / max of the image's own curve.

    Returns:
        dict: Metric name -> (N,) array, in :data:`METRIC_NAMES` order.
    """
    values = OrderedDict()
    for metric, (key, reduce) in METRIC_SOURCES.items():
        stacked = np.asarray([s[key] for s in scores], np.float64)
        if reduce is not None:
            stacked = getattr(stacked, reduce)(axis=1)
        values[metric] = stacked
    return values


def metric_inputs(scores: Sequence[dict]) -> Dict[str, np.ndarray]:
    """What each set-level metric is a function of, per image.

    A (N,) array for a metric that is the mean of per-image values; a
    (N, 256) array of per-image curves for a ``'max'`` metric of
    :data:`METRIC_SOURCES`, whose value is the max of their mean. Any
    weighting of the images (a bootstrap resample) gives that weighting's
    scores through :func:`weighted_scores`.
    """
    values = per_image_values(scores)
    for metric, (key, reduce) in METRIC_SOURCES.items():
        if reduce == 'max':
            values[metric] = np.asarray([s[key] for s in scores], np.float64)
    return values


def weighted_scores(inputs: Dict[str, np.ndarray],
                    weights: np.ndarray) -> Dict[str, np.ndarray]:
    """Set-level scores under image weights.

    Args:
        inputs (dict): From :func:`metric_inputs` (N images).
        weights (np.ndarray): (R, N), each row summing to 1: R weightings
            of the images (uniform: the set's own scores).

    Returns:
        dict: Metric name -> (R,) scores.
    """
    scores = OrderedDict()
    for metric, values in inputs.items():
        weighted = weights @ values
        scores[metric] = weighted.max(axis=1) if values.ndim == 2 \
            else weighted
    return scores


def summarise_set(scores: Sequence[dict]) -> Dict[str, float]:
    """Average per-image scores of one test set (see module doc)."""
    if not scores:
        raise ValueError('no images to summarise')
    uniform = np.full((1, len(scores)), 1 / len(scores))
    return OrderedDict((metric, float(value[0]))
                       for metric, value in weighted_scores(
                           metric_inputs(scores), uniform).items())


def group_by_set(scores: Sequence[dict]) -> Dict[str, List[dict]]:
    """Per-image scores grouped by test set, in order of first appearance."""
    groups: Dict[str, List[dict]] = OrderedDict()
    for score in scores:
        groups.setdefault(score['dataset'], []).append(score)
    return groups


def summarise(scores: Sequence[dict]) -> Dict[str, Dict[str, float]]:
    """Summaries per test set plus the unweighted mean over the sets.

    Returns:
        dict: ``{set name: {metric: value}, ..., 'mean': {...}}``.
    """
    summary = OrderedDict((name, summarise_set(group))
                          for name, group in group_by_set(scores).items())
    summary[MEAN_ROW] = OrderedDict(
        (metric, float(np.mean([row[metric] for row in summary.values()])))
        for metric in METRIC_NAMES)
    return summary


def flatten(summary: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    """``{'Kvasir/meanDic': ..., 'mean/meanDic': ...}`` for logging."""
    return OrderedDict((f'{name}/{metric}', value)
                       for name, row in summary.items()
                       for metric, value in row.items())


# Tables, CSV and plots moved out of the pure scores.
__getattr__ = moved_names(
    __name__, {
        'format_table':
        'ssformer_mmseg.evaluation.reports.format_table',
        'write_per_image_csv':
        'ssformer_mmseg.evaluation.reports.write_per_image_csv',
        'write_report':
        'ssformer_mmseg.evaluation.reports.write_report',
        'plot_dice_curves':
        'ssformer_mmseg.evaluation.reports.plot_dice_vs_threshold',
    })
