"""Reports of a scored run: the table of every test set, the per-image CSV
and the Dice-against-threshold plot."""
import csv
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from ..visualization.plots import plot_dice_curves
from .polyp_scores import METRIC_NAMES, group_by_set
from .run_folder import CURVES_CSV, CURVES_PNG, PER_IMAGE_CSV

#: The thresholds of the 256-point curves: 255/255 down to 0/255.
CURVE_THRESHOLDS = np.arange(255, -1, -1) / 255


def format_table(summary: Dict[str, Dict[str, float]],
                 counts: Dict[str, int]) -> str:
    """The summary as a text table, a row per test set plus the mean."""
    from prettytable import PrettyTable
    table = PrettyTable(['test set', 'images', *METRIC_NAMES])
    table.title = 'Polyp segmentation, per-image means (0-1 scale)'
    for name, row in summary.items():
        images = counts.get(name, sum(counts.values()))
        table.add_row([name, images, *(f'{row[m]:.4f}' for m in METRIC_NAMES)])
    return table.get_string()


def write_per_image_csv(scores: Sequence[dict], path: str) -> None:
    """One row per image: set, image, every per-image metric.

    The toolbox metrics are given per image as the mean / max of that
    image's own curve (the table's ``meanDic`` etc. average curves first).
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'test_set', 'image', 'mDice', 'mIoU', 'meanDic', 'meanIoU',
            'maxDic', 'maxIoU', 'Sm', 'meanEm', 'maxEm', 'wFm', 'MAE'
        ])
        for s in scores:
            writer.writerow([
                s['dataset'], s['name'],
                *(f'{v:.6f}'
                  for v in (s['dice'], s['iou'], s['dice_curve'].mean(),
                            s['iou_curve'].mean(), s['dice_curve'].max(),
                            s['iou_curve'].max(), s['sm'],
                            s['em_curve'].mean(), s['em_curve'].max(),
                            s['wfm'], s['mae']))
            ])


def mean_dice_curves(scores: Sequence[dict]) -> Dict[str, np.ndarray]:
    """Each test set's mean Dice per threshold (256 points, threshold 1
    down to 0, as :data:`CURVE_THRESHOLDS`)."""
    return {
        name: np.mean([s['dice_curve'] for s in group], axis=0)
        for name, group in group_by_set(scores).items()
    }


def plot_dice_vs_threshold(scores: Sequence[dict], path: str) -> None:
    """PNG of the mean Dice against the threshold, one line per test set."""
    plot_dice_curves(mean_dice_curves(scores), path)


def write_dice_curves_csv(scores: Sequence[dict], path: str) -> None:
    """The curves of :func:`mean_dice_curves` as a table: a threshold
    column and one column per test set."""
    curves = mean_dice_curves(scores)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['threshold', *curves])
        for row, threshold in enumerate(CURVE_THRESHOLDS):
            writer.writerow([
                f'{threshold:.6f}',
                *(f'{curve[row]:.6f}' for curve in curves.values())
            ])


def write_report(scores: Sequence[dict], out_dir: str) -> List[str]:
    """Write ``per_image.csv`` and ``dice_vs_threshold.{png,csv}`` to
    ``out_dir``.

    Returns:
        list[str]: The written files.
    """
    files = [
        osp.join(out_dir, name)
        for name in (PER_IMAGE_CSV, CURVES_PNG, CURVES_CSV)
    ]
    write_per_image_csv(scores, files[0])
    plot_dice_vs_threshold(scores, files[1])
    write_dice_curves_csv(scores, files[2])
    return files
