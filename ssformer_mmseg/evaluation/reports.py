"""Reports of a scored run: the table of every test set, the per-image CSV
and the Dice-against-threshold plot."""
import csv
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from ..visualization.plots import plot_dice_curves
from .polyp_scores import METRIC_NAMES, group_by_set


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


def plot_dice_vs_threshold(scores: Sequence[dict], path: str) -> None:
    """PNG of the mean Dice against the threshold, one line per test set."""
    plot_dice_curves(
        {
            name: np.mean([s['dice_curve'] for s in group], axis=0)
            for name, group in group_by_set(scores).items()
        }, path)


def write_report(scores: Sequence[dict], out_dir: str) -> List[str]:
    """Write ``per_image.csv`` and ``dice_vs_threshold.png`` to ``out_dir``.

    Returns:
        list[str]: The written files.
    """
    files = [
        osp.join(out_dir, 'per_image.csv'),
        osp.join(out_dir, 'dice_vs_threshold.png')
    ]
    write_per_image_csv(scores, files[0])
    plot_dice_vs_threshold(scores, files[1])
    return files
