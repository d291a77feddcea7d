"""What finished runs recorded: learning curves in images seen, test scores.

Runs of different recipes step differently (an epoch-based run with batch
32 and a partial last batch against an iteration-based one with batch 16),
so their curves are compared against the number of training images seen,
computed here from each run's config.
"""
import glob
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from mmengine.config import Config

from ..visualization.plots import find_scalars, read_scalars

Points = List[Tuple[int, float]]


@dataclass
class RunCurves:
    """One run's curves, x = training images seen.

    Attributes:
        label (str): Name of the run in plots and tables.
        losses (dict): Loss name -> points (logger window means).
        scores (dict): ``Set/meanDic`` / ``Set/mDice`` -> validation points.
    """
    label: str
    losses: Dict[str, Points] = field(default_factory=dict)
    scores: Dict[str, Points] = field(default_factory=dict)


def images_seen(iteration: int, batch_size: int, epoch_images: int = 0) -> int:
    """Training images seen after ``iteration`` iterations.

    Args:
        iteration (int): Iterations done.
        batch_size (int): Images per full batch.
        epoch_images (int): Images per epoch of an epoch-based run, whose
            last batch of an epoch holds the remainder; 0 for an
            iteration-based run (every batch full).
    """
    if not epoch_images:
        return iteration * batch_size
    per_epoch = math.ceil(epoch_images / batch_size)
    epochs, rest = divmod(iteration, per_epoch)
    return epochs * epoch_images + min(rest * batch_size, epoch_images)


def _epoch_images(cfg: Config) -> int:
    """Length of the training set of an epoch-based config, else 0."""
    if cfg.train_cfg.get('type') != 'EpochBasedTrainLoop':
        return 0
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return len(DATASETS.build(cfg.train_dataloader.dataset))


def run_curves(label: str, cfg: Config, work_dir: str) -> RunCurves:
    """Read a run's ``scalars.json`` and put its points in images seen.

    Args:
        label (str): Name of the run.
        cfg (Config): The config it trained with (``data_root`` set, since
            an epoch-based run's epoch length is its dataset's).
        work_dir (str): Its work dir (the newest run in it is read).

    Returns:
        RunCurves: Losses and validation scores against images seen.
    """
    batch = cfg.train_dataloader.batch_size
    epoch_images = _epoch_images(cfg)
    logger = cfg.default_hooks.get('logger', {})
    # Validation is logged at the epoch when log_metric_by_epoch is set
    # (mmengine's default) in an epoch-based run, else at the iteration.
    val_by_epoch = bool(epoch_images) and logger.get('log_metric_by_epoch',
                                                     True)
    losses, scores = read_scalars(find_scalars(work_dir))
    curves = RunCurves(label)
    for key, points in losses.items():
        curves.losses[key] = [(images_seen(step, batch, epoch_images), value)
                              for step, value in points]
    for key, points in scores.items():
        curves.scores[key] = [(step * epoch_images if val_by_epoch else
                               images_seen(step, batch, epoch_images), value)
                              for step, value in points]
    return curves


def read_test_scores(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest test run in ``work_dir``.

    mmengine dumps them to ``<work_dir>/<timestamp>/<timestamp>.json``.

    Raises:
        FileNotFoundError: If the work dir holds no such file.
    """
    found = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    found = [
        p for p in found
        if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0]
    ]
    if not found:
        raise FileNotFoundError(
            f'no <timestamp>/<timestamp>.json under {work_dir}: not the '
            'work dir of a finished tools/test.py run')
    with open(found[-1]) as f:
        return json.load(f)


def score_table(
    rows: Dict[str, Dict[str, float]],
    metrics: Tuple[str, ...] = ('meanDic', 'mDice', 'meanIoU')
) -> str:
    """A Markdown table of test scores: one row per run, per-set columns.

    Args:
        rows (dict): Row label -> the metrics of :func:`read_test_scores`.
        metrics (tuple): Which metrics of each set to show.
    """
    sets: List[str] = []
    for scores in rows.values():
        for key in scores:
            name, _, metric = key.rpartition('/')
            if name and name != 'mean' and metric in metrics \
                    and name not in sets:
                sets.append(name)
    columns = [f'{s} {m}' for s in sets for m in metrics]
    lines = [
        '| run | ' + ' | '.join(columns) + ' |',
        '| --- |' + ' ---: |' * len(columns)
    ]
    for label, scores in rows.items():
        cells = [
            f'{scores[f"{s}/{m}"]:.4f}' if f'{s}/{m}' in scores else '-'
            for s in sets for m in metrics
        ]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
