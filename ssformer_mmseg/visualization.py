"""Learning curves from the logs of a training run."""
import json
from typing import Dict, List, Optional, Tuple


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
        ax_dice.plot([max_iters], [value], '*', ms=10,
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
