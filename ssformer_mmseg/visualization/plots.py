"""Plots: learning curves of a training run, Dice against threshold of a
scored run."""
import glob
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def find_scalars(path: str) -> str:
    """``path`` itself, or the newest run's ``vis_data/scalars.json`` in a
    work dir.

    Raises:
        FileNotFoundError: If ``path`` is neither.
    """
    if osp.isfile(path):
        return path
    runs = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {path}: not an mmengine work '
            'dir (or the run logged nothing yet)')
    return runs[-1]


def read_scalars(scalars_json: str) -> Tuple[Dict[str, list], Dict[str, list]]:
    """Training losses and validation scores from mmengine's
    ``vis_data/scalars.json``.

    Returns:
        tuple[dict, dict]: ``{loss name: [(iteration, value), ...]}`` and
        ``{'Set/metric': [(iteration, value), ...]}`` for the ``meanDic`` and
        ``mDice`` of every validated set.
    """
    losses: Dict[str, List[tuple]] = {}
    scores: Dict[str, List[tuple]] = {}
    with open(scalars_json) as f:
        for line in f:
            record = json.loads(line)
            step = record.get('step')
            for key, value in record.items():
                if 'loss' in key:
                    losses.setdefault(key, []).append((step, value))
                elif key.endswith(('/meanDic', '/mDice')) and not \
                        key.startswith('mean/'):
                    scores.setdefault(key, []).append((step, value))
    return losses, scores


def plot_learning_curve(scalars_json: str,
                        path: str,
                        title: str,
                        max_iters: Optional[int] = None,
                        final: Optional[Dict[str, float]] = None) -> None:
    """Draw losses (left) and validation meanDic / mDice (right) against the
    iteration and save the figure as ``path``.

    Args:
        scalars_json (str): mmengine's ``vis_data/scalars.json``.
        path (str): Output image (PNG).
        title (str): Figure title.
        max_iters (int, optional): x-axis end; default: the last step.
        final (dict, optional): ``{'Set/meanDic': value}`` of the final
            test, drawn as stars at ``max_iters``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    losses, scores = read_scalars(scalars_json)
    if max_iters is None:
        max_iters = max(step for points in losses.values()
                        for step, _ in points)
    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for key, points in sorted(losses.items()):
        steps, values = zip(*points)
        ax_loss.plot(steps, values, label=key, lw=1.2)
    ax_loss.set_xlabel('iteration')
    ax_loss.set_ylabel('training loss (logger window mean)')
    ax_loss.set_yscale('log')
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    for key, points in sorted(scores.items()):
        steps, values = zip(*points)
        ax_dice.plot(steps, values, 'o-', label=f'{key} (validation)')
    for key, value in sorted((final or {}).items()):
        ax_dice.plot([max_iters], [value],
                     '*',
                     ms=10,
                     label=f'final test {key} {value:.3f}')
    ax_dice.set_xlabel('iteration')
    ax_dice.set_ylabel('score (0-1)')
    ax_dice.set_xlim(0, max_iters * 1.03)
    ax_dice.set_ylim(0, 1)
    ax_dice.grid(alpha=0.3)
    ax_dice.legend(fontsize=8, loc='lower right')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_dice_curves(curves: Dict[str, np.ndarray], path: str) -> None:
    """PNG of mean Dice against the threshold, one line per test set.

    Args:
        curves (dict): Test set -> its mean Dice curve over the 256
            thresholds 1, 1 - 1/255, ..., 0 (see
            :mod:`ssformer_mmseg.evaluation.polyp_scores`).
        path (str): Output PNG.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    thresholds = np.linspace(1, 0, 256)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, curve in curves.items():
        ax.plot(
            thresholds,
            curve,
            label=f'{name} (meanDic {curve.mean():.3f}, '
            f'max {curve.max():.3f})')
    ax.set_xlabel('threshold on the min-max normalised map')
    ax.set_ylabel('mean Dice over images')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='lower center')
    ax.set_title('Dice against threshold (0-1 scale)')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_compared_runs(runs: Sequence, path: str, title: str) -> None:
    """Two or more runs' learning curves in one figure, x = images seen.

    Left: each run's total training loss (each recipe's own loss, so the
    levels are not comparable, only the shapes). Right: each run's
    validation scores, ``meanDic`` solid and ``mDice`` dashed.

    Args:
        runs (Sequence[RunCurves]): From
            :func:`ssformer_mmseg.engine.run_records.run_curves`.
        path (str): Output PNG.
        title (str): Figure title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for run, colour in zip(runs, colours):
        if 'loss' in run.losses:
            images, values = zip(*run.losses['loss'])
            ax_loss.plot(
                images,
                values,
                color=colour,
                lw=1.2,
                label=f'{run.label}: loss')
        for key, points in sorted(run.scores.items()):
            images, values = zip(*points)
            ax_dice.plot(
                images,
                values,
                'o-' if key.endswith('meanDic') else 's--',
                color=colour,
                ms=4,
                label=f'{run.label}: {key} (last {values[-1]:.3f})')
    ax_loss.set_xlabel('training images seen')
    ax_loss.set_ylabel("training loss (each recipe's own)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    ax_dice.set_xlabel('training images seen')
    ax_dice.set_ylabel('validation score (0-1)')
    ax_dice.set_ylim(0, 1)
    ax_dice.grid(alpha=0.3)
    ax_dice.legend(fontsize=7, loc='upper left')
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_paired_scores(comparison, path: str) -> None:
    """Two models on the same images: per-image scores of B against A
    (one colour per test set, the diagonal is "no difference"), and the
    distribution of B minus A.

    Args:
        comparison (PairedComparison): From
            :func:`ssformer_mmseg.evaluation.paired_comparison.compare_scores`.
        path (str): Output PNG.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    label_a, label_b = comparison.labels
    metric = comparison.ranking_metric
    fig, (ax_pairs, ax_gaps) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=110)
    sets = list(dict.fromkeys(key[0] for key in comparison.per_image))
    gaps = []
    for name in sets:
        pairs = np.array([
            value for key, value in comparison.per_image.items()
            if key[0] == name
        ])
        ax_pairs.scatter(pairs[:, 0], pairs[:, 1], s=12, alpha=0.7, label=name)
        gaps.append(pairs[:, 1] - pairs[:, 0])
    ax_pairs.plot([0, 1], [0, 1], color='grey', lw=1, ls='--')
    ax_pairs.set_xlim(0, 1)
    ax_pairs.set_ylim(0, 1)
    ax_pairs.set_aspect('equal')
    ax_pairs.set_xlabel(f'{label_a}: per-image {metric}')
    ax_pairs.set_ylabel(f'{label_b}: per-image {metric}')
    ax_pairs.grid(alpha=0.3)
    ax_pairs.legend(fontsize=8, loc='lower right')
    every_gap = np.concatenate(gaps)
    ax_gaps.hist(gaps, bins=30, stacked=True, label=sets)
    ax_gaps.axvline(0, color='grey', lw=1, ls='--')
    ax_gaps.axvline(
        every_gap.mean(),
        color='black',
        lw=1.2,
        label=f'mean {every_gap.mean():+.4f}')
    ax_gaps.set_xlabel(f'{label_b} - {label_a} (per image)')
    ax_gaps.set_ylabel('images')
    ax_gaps.legend(fontsize=8)
    ax_gaps.grid(alpha=0.3)
    fig.suptitle(f'{label_b} against {label_a} on the same images')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_loss_curves(curves: Dict[str, Sequence[float]], path: str,
                     title: str) -> None:
    """PNG of training losses per step, one line per recipe (the same
    steps from the same weights), and their difference from the first.

    Args:
        curves (dict): Recipe -> its loss at each step.
        path (str): Output PNG.
        title (str): The figure's title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(6, 5),
        dpi=120,
        sharex=True,
        gridspec_kw=dict(height_ratios=[2, 1]))
    (first, baseline), *_ = curves.items()
    steps = np.arange(1, len(baseline) + 1)
    for name, losses in curves.items():
        top.plot(steps, losses, marker='.', label=name)
        if name != first:
            bottom.plot(
                steps,
                np.asarray(losses) - np.asarray(baseline),
                marker='.',
                label=f'{name} - {first}')
    top.set_ylabel('loss')
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    top.set_title(title, fontsize=9)
    bottom.axhline(0, color='grey', lw=0.8)
    bottom.set_xlabel('training step')
    bottom.set_ylabel('difference')
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
