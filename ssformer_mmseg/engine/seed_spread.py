"""One recipe, several seeds: how much do its scores move from run to run?

Each seed trains in its own work dir (``<work_dir>/seed_<k>``) through
``tools/train.py`` with ``randomness.seed=<k>`` — a subprocess each, so one
failing run leaves the others and a finished run is not trained again —
and is then tested through ``tools/test.py`` (its maps kept under
``seed_<k>/test/maps``, for
:mod:`~ssformer_mmseg.evaluation.paired_comparison`).
The spread is the mean, sample standard deviation (n - 1) and range of
every score over the seeds, per test set, next to every run's own row.
"""
import csv
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..messages import quiet
from .run_records import read_test_scores
from .tool_runs import run_tool

#: 1.96 · √2: the two-sided 95 % range of the difference of two
#: independent normal draws, in units of their standard deviation.
TWO_RUN_FACTOR = 1.959964 * 2**0.5
#: Files :func:`write_spread` writes.
SPREAD_FILES = ('seed_spread.md', 'seed_spread.csv', 'seed_spread.json')


@dataclass
class SeedRun:
    """One seed's run.

    Attributes:
        seed (int): Its ``randomness.seed``.
        work_dir (str): Its training work dir.
        scores (dict): Its test metrics (``'Kvasir/meanDic'`` -> value);
            empty before testing.
    """
    seed: int
    work_dir: str
    scores: Dict[str, float]

    @property
    def test_dir(self) -> str:
        """The test run's work dir."""
        return osp.join(self.work_dir, 'test')

    @property
    def maps_dir(self) -> str:
        """The test run's ``--out`` folder (maps, report, review copies)."""
        return osp.join(self.test_dir, 'maps')


def seed_work_dir(work_dir: str, seed: int) -> str:
    """Where seed ``seed`` trains."""
    return osp.join(work_dir, f'seed_{seed}')


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint a finished (or interrupted) run recorded last, found
    in ``work_dir`` wherever that folder moved since; None without one."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = osp.join(work_dir, osp.basename(f.read().strip()))
    return path if osp.isfile(path) else None


def train_and_test(config: str,
                   seeds: Sequence[int],
                   work_dir: str,
                   cfg_options: Sequence[str] = (),
                   test: bool = True,
                   test_options: Sequence[str] = (),
                   log: Callable[[str], None] = quiet) -> List[SeedRun]:
    """Train ``config`` once per seed, then test each last checkpoint.

    Args:
        config (str): The recipe's config file.
        seeds (Sequence[int]): The seeds, each a run.
        work_dir (str): Parent of the runs' work dirs.
        cfg_options (Sequence[str]): ``key=value`` settings for both tools
            (e.g. ``data_root=DIR``).
        test (bool): Test each run (else the runs' scores stay empty).
        test_options (Sequence[str]): More ``tools/test.py`` options.
        log (Callable): Progress messages.

    Returns:
        list[SeedRun]: In seed order.

    Raises:
        RuntimeError: If a run fails (naming its log); runs before it keep
            their results.
    """
    runs = []
    for seed in seeds:
        run = SeedRun(seed, seed_work_dir(work_dir, seed), {})
        options = ['--cfg-options', f'randomness.seed={seed}', *cfg_options]
        if last_checkpoint(run.work_dir) is None:
            run_tool('train.py',
                     [config, '--work-dir', run.work_dir, *options],
                     osp.join(run.work_dir, 'train.log'), log)
        else:
            log(f'seed {seed}: trained already ({run.work_dir})')
        if test:
            checkpoint = last_checkpoint(run.work_dir)
            if checkpoint is None:
                raise RuntimeError(f'seed {seed}: {run.work_dir} records no '
                                   'checkpoint after training')
            run_tool('test.py', [
                config, checkpoint, '--work-dir', run.test_dir, '--out',
                run.maps_dir, *test_options, *options
            ], osp.join(run.work_dir, 'test.log'), log)
            run.scores = read_test_scores(run.test_dir)
        runs.append(run)
    return runs


def spread(runs: Sequence[SeedRun]) -> Dict[str, Dict[str, float]]:
    """Per score key (``'Kvasir/meanDic'``): ``mean``, ``std`` (sample,
    n - 1; NaN for one run), ``min``, ``max``, ``runs``, over the runs that
    have it; ``two_run_gap``: the difference two runs of this recipe stay
    within 95 % of the time (1.96 · √2 · std, the runs' scores taken as
    normal), the smallest gap between two single runs that says more than
    the seed."""
    keys = list(
        dict.fromkeys(k for run in runs for k in run.scores if '/' in k))
    table = OrderedDict()
    for key in keys:
        values = np.array(
            [run.scores[key] for run in runs if key in run.scores])
        table[key] = dict(
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else float('nan'),
            min=float(values.min()),
            max=float(values.max()),
            runs=len(values))
        table[key]['two_run_gap'] = TWO_RUN_FACTOR * table[key]['std']
    return table


def format_spread(
    runs: Sequence[SeedRun],
    metrics: Sequence[str] = ('meanDic', 'mDice', 'mIoU', 'Sm', 'wFm', 'MAE')
) -> str:
    """Markdown: per test set, a row per seed and the mean ± std and
    range over the seeds, for ``metrics``."""
    table = spread(runs)
    sets = list(
        dict.fromkeys(
            key.rpartition('/')[0] for key in table
            if key.rpartition('/')[2] in metrics))
    lines = []
    for name in sets:
        lines += [
            f'### {name}', '', '| run | ' + ' | '.join(metrics) + ' |',
            '| --- |' + ' ---: |' * len(metrics)
        ]
        for run in runs:
            cells = [
                f'{run.scores[f"{name}/{m}"]:.4f}'
                if f'{name}/{m}' in run.scores else '–' for m in metrics
            ]
            lines.append(f'| seed {run.seed} | ' + ' | '.join(cells) + ' |')
        for label, cell in (('mean ± std',
                             lambda s: f'{s["mean"]:.4f} ± {s["std"]:.4f}'),
                            ('range',
                             lambda s: f'{s["min"]:.4f}–{s["max"]:.4f}'),
                            ('95 % gap of two runs',
                             lambda s: f'{s["two_run_gap"]:.4f}')):
            cells = [
                cell(table[f'{name}/{m}']) if f'{name}/{m}' in table else '–'
                for m in metrics
            ]
            lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines)


def write_spread(runs: Sequence[SeedRun], out_dir: str) -> List[str]:
    """:data:`SPREAD_FILES` in ``out_dir``: the Markdown tables, a CSV (a
    row per seed and per statistic, a column per score) and JSON."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [osp.join(out_dir, name) for name in SPREAD_FILES]
    table = spread(runs)
    with open(paths[0], 'w') as f:
        f.write(format_spread(runs) + '\n')
    with open(paths[1], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['row', *table])
        for run in runs:
            writer.writerow([
                f'seed {run.seed}',
                *(f'{run.scores[k]:.6f}' if k in run.scores else ''
                  for k in table)
            ])
        for statistic in ('mean', 'std', 'min', 'max', 'two_run_gap'):
            writer.writerow(
                [statistic, *(f'{s[statistic]:.6f}' for s in table.values())])
    with open(paths[2], 'w') as f:
        json.dump(
            dict(
                runs=[
                    dict(seed=r.seed, work_dir=r.work_dir, scores=r.scores)
                    for r in runs
                ],
                spread=table),
            f,
            indent=2)
    return paths
