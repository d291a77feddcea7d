"""Two models on the same images: is the difference more than noise?

Each score's difference (B minus A) per test set and pooled over all
images, with a paired bootstrap interval (the same resampled images score
both models, :mod:`.intervals`) and a two-sided Wilcoxon signed-rank test
on the per-image values (``scipy.stats.wilcoxon``). The per-set p-values of
one metric are adjusted across the sets with Holm's step-down method
(family-wise error at the nominal level); the pooled test is reported as
it is. The images on which the two disagree most (per-image meanDic) come
with it, and :func:`~ssformer_mmseg.visualization.plots.plot_paired_scores`
draws it.

Both sides must hold exactly the same images: a comparison on different
images compares the images, not the models.
"""
import csv
import filecmp
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..messages import listing
from .intervals import (BootstrapSettings, bootstrap_bounds, difference_scorer,
                        format_bounds, mean_statistic)
from .polyp_scores import (METRIC_NAMES, group_by_set, metric_inputs,
                           per_image_values, summarise_set)

#: Name of the row over all images of all sets.
POOLED_ROW = 'pooled'
#: The per-image score the disagreements and the picture are ranked by.
RANKING_METRIC = 'meanDic'
#: How the per-set p-values are adjusted.
CORRECTION = 'Holm-Bonferroni across the test sets, per metric'


class ImageSetMismatch(ValueError):
    """The two sides do not hold the same images; the message names what
    each side lacks."""


@dataclass
class Difference:
    """One metric on one row: both models' scores and B minus A.

    Attributes:
        a, b (float): The two models' scores.
        difference (float): ``b - a``.
        ci_low, ci_high (float): Paired bootstrap interval of the
            difference (NaN below 2 images).
        p_value (float): Wilcoxon signed-rank, two-sided, on the per-image
            values (1.0 when every image scores alike on both sides).
        p_adjusted (float): After :data:`CORRECTION` (the pooled row: as
            it is).
    """
    a: float
    b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float = float('nan')

    @property
    def interval_excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def resolution(self) -> float:
        """Half the interval's width: about the smallest difference
        these images tell from none at this spread of per-image
        differences."""
        return (self.ci_high - self.ci_low) / 2


@dataclass
class RowComparison:
    """One test set (or the pooled images).

    Attributes:
        images (int): Images compared.
        differences (dict): Metric name -> :class:`Difference`.
        disagreements (list): ``(set, image, a, b)`` per-image
            :data:`RANKING_METRIC`, largest |b - a| first.
        percentile_fallback (list): Metrics whose BCa interval is
            undefined here and is the percentile interval instead.
    """
    images: int
    differences: Dict[str, Difference]
    disagreements: List[Tuple[str, str, float,
                              float]] = field(default_factory=list)
    percentile_fallback: List[str] = field(default_factory=list)


@dataclass
class PairedComparison:
    """The whole comparison; ``rows`` holds every set and the pooled row.

    Attributes:
        labels (tuple): Names of A and B.
        rows (dict): Row name -> :class:`RowComparison`.
        settings (BootstrapSettings): How the intervals were computed.
        per_image (dict): ``(set, image) -> (a, b)`` per-image
            ``ranking_metric``, for the picture.
        ranking_metric (str): :data:`RANKING_METRIC`.
    """
    labels: Tuple[str, str]
    rows: Dict[str, RowComparison]
    settings: BootstrapSettings
    per_image: Dict[Tuple[str, str], Tuple[float, float]]
    ranking_metric: str = RANKING_METRIC

    def describe(self) -> str:
        return (f'difference = {self.labels[1]} - {self.labels[0]}; '
                f'interval: paired {self.settings.describe()}; p: two-sided '
                f'Wilcoxon signed-rank on per-image values, {CORRECTION}')

    def as_dict(self) -> dict:
        return dict(
            labels=list(self.labels),
            method=self.describe(),
            bootstrap=self.settings.as_dict(),
            rows={
                name: dict(
                    images=row.images,
                    differences={
                        m: asdict(d)
                        for m, d in row.differences.items()
                    },
                    disagreements=[
                        dict(test_set=s, image=i, a=a, b=b)
                        for s, i, a, b in row.disagreements
                    ],
                    percentile_fallback=row.percentile_fallback)
                for name, row in self.rows.items()
            })


def _key(score: dict) -> Tuple[str, str]:
    return score['dataset'], score['name']


def match_images(scores_a: Sequence[dict], scores_b: Sequence[dict],
                 labels: Tuple[str, str]) -> List[dict]:
    """B's scores in A's image order.

    Raises:
        ImageSetMismatch: Naming the images each side lacks.
    """
    by_key = {_key(s): s for s in scores_b}
    keys_a = [_key(s) for s in scores_a]
    lacks = []
    for side, have, other in ((labels[1], by_key, keys_a),
                              (labels[0], set(keys_a), list(by_key))):
        missing = [k for k in other if k not in have]
        if missing:
            lacks.append(f'{side} lacks {len(missing)}: ' +
                         listing('/'.join(k) for k in missing))
    if lacks:
        raise ImageSetMismatch('the two sides do not hold the same images; ' +
                               '; '.join(lacks))
    return [by_key[k] for k in keys_a]


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm's step-down adjustment of m p-values: the i-th smallest (from
    0) times (m - i), made monotone and capped at 1. NaN (no test) stays
    NaN and does not count in m."""
    p_values = np.asarray(p_values, np.float64)
    adjusted = np.full(len(p_values), np.nan)
    tested = np.flatnonzero(np.isfinite(p_values))
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p_values[tested])]):
        running = max(running, (len(tested) - rank) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted.tolist()


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of per-image values; 1.0 when no
    image differs (nothing to test), NaN below 2 images."""
    from scipy import stats
    if len(a) < 2:
        return float('nan')
    if np.all(a == b):
        return 1.0
    return float(stats.wilcoxon(b, a).pvalue)


def _compare_row(scores_a: Sequence[dict], scores_b: Sequence[dict],
                 settings: BootstrapSettings, worst: int) -> RowComparison:
    summary_a, summary_b = summarise_set(scores_a), summarise_set(scores_b)
    values_a, values_b = per_image_values(scores_a), per_image_values(scores_b)
    statistic = mean_statistic(
        [difference_scorer(metric_inputs(scores_b), metric_inputs(scores_a))])
    bounds, fallback = bootstrap_bounds([len(scores_a)], statistic, settings,
                                        METRIC_NAMES)
    differences = OrderedDict()
    for m in METRIC_NAMES:
        differences[m] = Difference(summary_a[m], summary_b[m],
                                    summary_b[m] - summary_a[m], *bounds[m],
                                    wilcoxon_p(values_a[m], values_b[m]))
    gaps = values_b[RANKING_METRIC] - values_a[RANKING_METRIC]
    order = np.argsort(-np.abs(gaps), kind='stable')[:worst]
    disagreements = [(*_key(scores_a[i]), float(values_a[RANKING_METRIC][i]),
                      float(values_b[RANKING_METRIC][i])) for i in order]
    return RowComparison(len(scores_a), differences, disagreements, fallback)


def compare_scores(scores_a: Sequence[dict],
                   scores_b: Sequence[dict],
                   labels: Tuple[str, str] = ('A', 'B'),
                   settings: BootstrapSettings = BootstrapSettings(),
                   worst: int = 10) -> PairedComparison:
    """Compare two models' per-image scores on the same images.

    Args:
        scores_a (Sequence[dict]): Model A's per-image scores
            (:func:`~.polyp_scores.score_image`).
        scores_b (Sequence[dict]): Model B's, on the same images (any
            order).
        labels (tuple): Names of A and B in the report.
        settings (BootstrapSettings): The intervals' settings (resamples
            must be > 0).
        worst (int): Disagreements listed per row.

    Returns:
        PairedComparison: Per set and pooled.

    Raises:
        ImageSetMismatch: If the image sets differ.
        ValueError: If there is nothing to compare or intervals are off.
    """
    if not scores_a and not scores_b:
        raise ValueError('no images to compare')
    if not settings.enabled:
        raise ValueError('a paired comparison needs bootstrap resamples > 0')
    scores_b = match_images(scores_a, scores_b, labels)
    groups_a = group_by_set(scores_a)
    groups_b = group_by_set(scores_b)
    rows = OrderedDict(
        (name, _compare_row(group, groups_b[name], settings, worst))
        for name, group in groups_a.items())
    for metric in METRIC_NAMES:
        sets = list(rows.values())
        for row, p in zip(sets,
                          holm([r.differences[metric].p_value for r in sets])):
            row.differences[metric].p_adjusted = p
    if len(rows) > 1:
        rows[POOLED_ROW] = _compare_row(scores_a, scores_b, settings, worst)
        for difference in rows[POOLED_ROW].differences.values():
            difference.p_adjusted = difference.p_value
    ranking = per_image_values(scores_a)[RANKING_METRIC], per_image_values(
        scores_b)[RANKING_METRIC]
    per_image = OrderedDict(
        (_key(s), (float(ranking[0][i]), float(ranking[1][i])))
        for i, s in enumerate(scores_a))
    return PairedComparison(tuple(labels), rows, settings, per_image)


def format_comparison(
    comparison: PairedComparison,
    metrics: Sequence[str] = ('meanDic', 'mDice', 'mIoU', 'Sm', 'wFm', 'MAE')
) -> str:
    """A Markdown table per row (set or pooled): each metric's A, B,
    difference, interval and p-values; then the disagreements."""
    label_a, label_b = comparison.labels
    lines = [f'Paired comparison: {comparison.describe()}', '']
    for name, row in comparison.rows.items():
        lines += [
            f'### {name} ({row.images} images)', '',
            f'| metric | {label_a} | {label_b} | difference | '
            f'{comparison.settings.confidence:.0%} CI | p | p adjusted |',
            '| --- | ---: | ---: | ---: | --- | ---: | ---: |'
        ]
        for metric in metrics:
            d = row.differences[metric]
            mark = ' *' if d.interval_excludes_zero else ''
            bounds = format_bounds((d.ci_low, d.ci_high), signed=True)
            lines.append(
                f'| {metric} | {d.a:.4f} | {d.b:.4f} | {d.difference:+.4f}'
                f'{mark} | {bounds} | {d.p_value:.3g} | {d.p_adjusted:.3g} |')
        resolution = row.differences[RANKING_METRIC].resolution
        if row.percentile_fallback:
            lines += [
                '', 'Percentile interval where BCa is undefined: ' +
                ', '.join(row.percentile_fallback)
            ]
        lines += [
            '', f'{RANKING_METRIC} differences within about ±{resolution:.4f} '
            '(half the interval) are not told from none on these images.', '',
            f'Largest per-image {RANKING_METRIC} disagreements: ' +
            ', '.join(f'{s}/{i} {a:.3f} vs {b:.3f}'
                      for s, i, a, b in row.disagreements), ''
        ]
    lines.append('* the interval excludes 0.')
    return '\n'.join(lines)


def write_comparison(comparison: PairedComparison, out_dir: str) -> List[str]:
    """``comparison.json``, ``comparison.csv`` (a row per set and metric),
    ``comparison.md`` and ``comparison.png`` in ``out_dir``."""
    from ..visualization.plots import plot_paired_scores
    os.makedirs(out_dir, exist_ok=True)
    files = [
        osp.join(out_dir, f'comparison.{ext}')
        for ext in ('json', 'csv', 'md', 'png')
    ]
    with open(files[0], 'w') as f:
        json.dump(comparison.as_dict(), f, indent=2)
    with open(files[1], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'row', 'images', 'metric', 'a', 'b', 'difference', 'ci_low',
            'ci_high', 'p_value', 'p_adjusted'
        ])
        for name, row in comparison.rows.items():
            for metric, d in row.differences.items():
                writer.writerow([name, row.images, metric] +
                                [f'{v:.6g}' for v in asdict(d).values()])
    with open(files[2], 'w') as f:
        f.write(format_comparison(comparison) + '\n')
    plot_paired_scores(comparison, files[3])
    return files


def compare_folders(folder_a: str,
                    folder_b: str,
                    samples: Optional[Sequence[dict]] = None,
                    labels: Tuple[str, str] = ('A', 'B'),
                    settings: BootstrapSettings = BootstrapSettings(),
                    threshold: float = 0.5,
                    worst: int = 10) -> PairedComparison:
    """Compare two folders of maps (``<set>/<stem>.png``).

    Args:
        folder_a, folder_b (str): ``tools/test.py --out`` folders (each
            scored against its own ground-truth copies, which must be the
            same on both sides), or plain map folders with ``samples``.
        samples (Sequence[dict], optional): The ground truth both are
            scored against (:func:`~.saved_maps.ground_truth` of a config).
        labels, settings, threshold, worst: As :func:`compare_scores` and
            :func:`~.saved_maps.score_saved_maps`.

    Raises:
        ImageSetMismatch: If the two runs hold different images or their
            ground truths differ.
        PolypFileError: If a map is missing or unreadable.
    """
    from .saved_maps import run_folder_samples, score_saved_maps
    if samples is None:
        sides = [run_folder_samples(folder) for folder in (folder_a, folder_b)]
        _check_same_ground_truth(*sides, labels)
    else:
        sides = [samples, samples]
    scores = [
        score_saved_maps(folder, side, threshold)
        for folder, side in zip((folder_a, folder_b), sides)
    ]
    return compare_scores(*scores, labels, settings, worst)


def _check_same_ground_truth(samples_a: Sequence[dict],
                             samples_b: Sequence[dict],
                             labels: Tuple[str, str]) -> None:
    """The two runs' ground-truth copies name the same images with the
    same masks (the copies are written alike, so equal masks are equal
    files)."""

    def by_key(samples):
        return {(s['dataset_name'],
                 osp.splitext(osp.basename(s['seg_map_path']))[0]):
                s['seg_map_path']
                for s in samples}

    paths_a, paths_b = by_key(samples_a), by_key(samples_b)
    as_scores = [dict(dataset=k[0], name=k[1]) for k in paths_a]
    match_images(as_scores, [dict(dataset=k[0], name=k[1]) for k in paths_b],
                 labels)
    differ = [
        '/'.join(key) for key, path in paths_a.items()
        if not filecmp.cmp(path, paths_b[key], shallow=False)
    ]
    if differ:
        raise ImageSetMismatch(
            f'the ground truth of {len(differ)} images differs between '
            f'{labels[0]} and {labels[1]}: ' + listing(differ))
