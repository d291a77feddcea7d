"""A validation part carved from a training split, the same on every run.

Choosing the checkpoint on the test sets (as the official SSFormer training
script does) reports an optimistic number; the sound alternative picks it on
frames held out of training. ``PolypDataset(holdout=...)`` uses this module
so that the training dataset and the validation dataset of one config agree
on which frames are held out without any split file being written.
"""
from typing import List, Sequence, Tuple

import numpy as np

#: The two parts a holdout divides a split into.
HOLDOUT_PARTS = ('train', 'val')


def check_holdout(holdout: dict) -> Tuple[float, int, str]:
    """Check a ``holdout`` dict and return its (fraction, seed, part).

    Args:
        holdout (dict): ``fraction`` (0 < fraction < 1, required), ``part``
            (``'train'`` for the rest, ``'val'`` for the held-out frames,
            required) and ``seed`` (int, default 0).

    Raises:
        ValueError: Naming every bad or unknown key at once.
    """
    if not isinstance(holdout, dict):
        raise ValueError(
            f'holdout must be a dict(fraction=, part=, seed=), got '
            f'{holdout!r}')
    problems = []
    unknown = sorted(set(holdout) - {'fraction', 'part', 'seed'})
    if unknown:
        problems.append(f'unknown keys {unknown}')
    fraction = holdout.get('fraction')
    if isinstance(
            fraction,
            bool) or not isinstance(fraction,
                                    (int, float)) or not 0 < fraction < 1:
        problems.append(f'fraction must be in (0, 1), got {fraction!r}')
    part = holdout.get('part')
    if part not in HOLDOUT_PARTS:
        problems.append(f'part must be one of {HOLDOUT_PARTS}, got {part!r}')
    seed = holdout.get('seed', 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f'seed must be an int, got {seed!r}')
    if problems:
        raise ValueError('bad holdout: ' + '; '.join(problems))
    return float(fraction), seed, part


def holdout_part(stems: Sequence[str], fraction: float, seed: int,
                 part: str) -> List[str]:
    """The ``part`` of ``stems`` when ``fraction`` of them is held out.

    The held-out frames are a seeded random choice of
    ``max(1, round(fraction * len(stems)))`` stems that depends only on the
    *set* of stems and the seed (not their order), so a reordered split file
    holds out the same frames; both parts keep the order of ``stems``.

    Args:
        stems (Sequence[str]): The split's stems (at least two).
        fraction (float): Share held out, 0 < fraction < 1.
        seed (int): Seed of the choice.
        part (str): ``'train'`` (the rest) or ``'val'`` (the held-out).

    Returns:
        list[str]: The stems of that part.

    Raises:
        ValueError: If the split has fewer than two stems.
    """
    if len(stems) < 2:
        raise ValueError('a holdout needs a split of at least two frames, '
                         f'got {len(stems)}')
    count = min(len(stems) - 1, max(1, round(fraction * len(stems))))
    ordered = sorted(stems)
    chosen = np.random.RandomState(seed).permutation(len(ordered))[:count]
    held_out = {ordered[i] for i in chosen}
    return [s for s in stems if (s in held_out) == (part == 'val')]
