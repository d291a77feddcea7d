"""The ``make demo`` run: train SSFormer on synthetic polyps on a CPU,
evaluate, draw results (``tools/demo.py`` parses the options and calls
:func:`run_demo`).

Real polyp data cannot ship with the repository, so this generates a
licence-free colonoscopy-like set (:mod:`ssformer_mmseg.datasets.synthetic`),
trains an SSFormer-S-structured model on it from scratch with the official
augmentations (``configs/demo_ssformer_s_synthetic.py``), tests the final
checkpoint with the polyp metrics and draws the results, all under one
output folder (see ``tools/demo.py`` for the layout).
"""
import copy
import csv
import gc
import glob
import json
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.runner import Runner

from .apis.postprocess import foreground_mask
from .config import load_config
from .datasets.image_io import write_image
from .datasets.polyp_files import read_mask
from .datasets.synthetic import (FOLDER, SyntheticPolypDataset,
                                 make_synthetic_polyp_set, synthetic_manifest,
                                 synthetic_set_is_complete)
from .evaluation.polyp_scores import METRIC_NAMES
from .evaluation.reports import ScoreReport
from .messages import quiet
from .visualization.overlays import grid, prediction_tile
from .visualization.plots import plot_learning_curve

SET_NAME = SyntheticPolypDataset.DATASET_NAME


@dataclass
class DemoOptions:
    """What a demo run does (the options of ``tools/demo.py``)."""
    out_dir: str = 'work_dirs/demo'
    config: str = ''
    iters: Optional[int] = None
    train_size: int = 400
    test_size: int = 100
    image_size: int = 256
    seed: int = 0
    overlays: int = 8
    regenerate: bool = False
    cfg_options: Optional[dict] = None


def banner(text: str) -> str:
    """A visible phase header between mmengine's log lines."""
    return f'\n===== {text} ====='


def make_data(options: DemoOptions,
              data_root: str,
              log: Callable[[str], None] = quiet) -> None:
    """Generate the synthetic set under ``data_root`` unless a complete one
    with the same parameters is there."""
    manifest = synthetic_manifest(options.train_size, options.test_size,
                                  options.image_size, options.seed)
    if not options.regenerate and synthetic_set_is_complete(
            data_root, manifest):
        log(f'reusing the complete synthetic set in {data_root} '
            '(--regenerate rebuilds it)')
        return
    total = options.train_size + options.test_size
    step = max(1, total // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            log(f'  {done}/{total} frames')

    log(f'writing {options.train_size} training and {options.test_size} '
        f'test frames of {options.image_size}x{options.image_size} to '
        f'{data_root}')
    make_synthetic_polyp_set(
        data_root,
        options.train_size,
        options.test_size,
        options.image_size,
        options.seed,
        overwrite=True,
        progress=progress)


def demo_config(options: DemoOptions, data_root: str) -> Config:
    """The demo config with the data root, the schedule length and the
    command line's overrides applied."""
    # data_root through load_config, which moves every dataset of the config.
    cfg = load_config(options.config, {
        **(options.cfg_options or {}), 'data_root': data_root
    })
    if options.iters is not None:
        scale_schedule(cfg, options.iters)
    return cfg


def scale_schedule(cfg: Config, iters: int) -> None:
    """Shorten or lengthen an iteration-based schedule to ``iters``: every
    scheduler's ``begin`` / ``end`` and the validation interval scale with
    it, so warm-up and decay keep their shares of the run."""
    old = cfg.train_cfg.max_iters
    factor = iters / old
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = max(
        1, round(cfg.train_cfg.get('val_interval', old) * factor))
    schedulers = cfg.param_scheduler if isinstance(
        cfg.param_scheduler, (list, tuple)) else [cfg.param_scheduler]
    for scheduler in schedulers:
        begin = min(iters - 1, round(scheduler.get('begin', 0) * factor))
        end = round(scheduler.get('end', old) * factor)
        scheduler.update(begin=begin, end=min(iters, max(begin + 1, end)))
    cfg.default_hooks.checkpoint.interval = iters


def _fresh_runner(cfg: Config, work_dir: str, name: str) -> Runner:
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    # Runners of one process share Visualizer / logger instances by name;
    # distinct names keep the test run from writing into the training logs.
    cfg.visualizer.name = f'demo_{name}_{time.time_ns()}'
    cfg.experiment_name = cfg.visualizer.name
    return Runner.from_cfg(cfg)


def train(cfg: Config, work_dir: str) -> tuple:
    """Train with mmengine's Runner.

    Returns:
        tuple[str, str]: The final checkpoint and the run's log folder.
    """
    runner = _fresh_runner(cfg, work_dir, 'train')
    runner.train()
    log_dir = runner.log_dir
    # The persistent data-loader workers go with the runner; free the two
    # cores for testing.
    del runner
    gc.collect()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    return checkpoint, log_dir


def test(cfg: Config, checkpoint: str, work_dir: str) -> Dict[str, float]:
    """Test ``checkpoint`` with PolypMetric, as ``tools/test.py --out``
    does: the report files and the probability maps go to ``work_dir``.

    Returns:
        dict[str, float]: The metric's keys, ``Synthetic/meanDic``, ...
    """
    cfg = copy.deepcopy(cfg)
    cfg.load_from = checkpoint
    cfg.test_evaluator = dict(
        type='PolypMetric',
        report_dir=work_dir,
        prob_map_dir=osp.join(work_dir, 'prob_maps'))
    runner = _fresh_runner(cfg, work_dir, 'test')
    metrics = runner.test()
    del runner
    gc.collect()
    return metrics


def draw_overlays(data_root: str, map_dir: str, per_image_csv: str,
                  out_dir: str, grid_path: str, count: int) -> List[str]:
    """Draw ``image | ground truth | prediction`` for ``count`` test frames
    spread from the worst to the best Dice, each to ``out_dir`` and all in
    one grid picture.

    Returns:
        list[str]: The drawn stems, worst first.
    """
    with open(per_image_csv) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: float(r['mDice']))
    picks = sorted(
        set(
            np.round(np.linspace(0,
                                 len(rows) - 1, min(count,
                                                    len(rows)))).astype(int)))
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(osp.join(out_dir, '*.png')):
        os.remove(old)  # from an earlier run with other frames
    tiles, stems = [], []
    for i in picks:
        stem, dice = rows[i]['image'], float(rows[i]['mDice'])
        image = cv2.imread(
            osp.join(data_root, FOLDER, 'images', stem + '.png'))
        gt = read_mask(osp.join(data_root, FOLDER, 'masks', stem + '.png'))
        prob = cv2.imread(
            osp.join(map_dir, stem + '.png'), cv2.IMREAD_GRAYSCALE) / 255.0
        tile = prediction_tile(image, gt, foreground_mask(prob, 0.5),
                               f'{stem}  Dice {dice:.3f}')
        write_image(osp.join(out_dir, stem + '.png'), tile)
        tiles.append(tile)
        stems.append(stem)
    write_image(grid_path, grid(tiles, 2 if len(tiles) > 3 else 1))
    return stems


def run_demo(options: DemoOptions, log: Callable[[str], None] = quiet) -> dict:
    """Run the demo; returns the summary it also writes as JSON.

    Args:
        options (DemoOptions): What to run.
        log (Callable): Progress messages: a header as each phase starts,
            the data generation's progress (mmengine logs the rest).

    Returns:
        dict: ``seconds`` per phase, ``metrics``, ``iters``,
        ``train_frames``, ``test_frames``, ``files`` (every output), and
        ``table`` (the metric table as text).
    """
    out_dir = osp.abspath(options.out_dir)
    data_root = osp.join(out_dir, 'data')
    os.makedirs(out_dir, exist_ok=True)
    times: Dict[str, float] = {}
    start = time.perf_counter()

    log(banner('1/4 data: synthetic colonoscopy-like frames'))
    tick = time.perf_counter()
    make_data(options, data_root, log)
    times['data'] = time.perf_counter() - tick

    log(banner('2/4 training (mmengine logs every few iterations, with ETA)'))
    tick = time.perf_counter()
    cfg = demo_config(options, data_root)
    checkpoint, log_dir = train(cfg, osp.join(out_dir, 'train'))
    times['train'] = time.perf_counter() - tick

    log(banner('3/4 testing the final checkpoint'))
    tick = time.perf_counter()
    test_dir = osp.join(out_dir, 'test')
    metrics = test(cfg, checkpoint, test_dir)
    times['test'] = time.perf_counter() - tick

    log(banner('4/4 pictures'))
    tick = time.perf_counter()
    summary = {m: metrics[f'{SET_NAME}/{m}'] for m in METRIC_NAMES}
    # The test run's own table, with its confidence intervals.
    table = ScoreReport.read(test_dir).table()
    files = dict(
        metrics=osp.join(out_dir, 'metrics.txt'),
        per_image=osp.join(test_dir, 'per_image.csv'),
        scores=osp.join(test_dir, 'scores.json'),
        dice_vs_threshold=osp.join(test_dir, 'dice_vs_threshold.png'),
        prob_maps=osp.join(test_dir, 'prob_maps', SET_NAME),
        overlays=osp.join(out_dir, 'overlays.png'),
        overlay_dir=osp.join(out_dir, 'overlays'),
        learning_curve=osp.join(out_dir, 'learning_curve.png'),
        checkpoint=checkpoint,
        train_log_dir=log_dir,
        data=osp.join(data_root, FOLDER),
        summary=osp.join(out_dir, 'summary.json'))
    with open(files['metrics'], 'w') as f:
        f.write(table + '\n')
    draw_overlays(data_root, files['prob_maps'], files['per_image'],
                  files['overlay_dir'], files['overlays'], options.overlays)
    plot_learning_curve(
        osp.join(log_dir, 'vis_data', 'scalars.json'),
        files['learning_curve'],
        'SSFormer demo on synthetic polyps',
        max_iters=cfg.train_cfg.max_iters,
        final={f'{SET_NAME}/meanDic': summary['meanDic']})
    times['pictures'] = time.perf_counter() - tick
    times['total'] = time.perf_counter() - start

    result = dict(
        seconds={k: round(v, 1)
                 for k, v in times.items()},
        metrics=summary,
        iters=cfg.train_cfg.max_iters,
        train_frames=options.train_size,
        test_frames=options.test_size,
        files=files)
    with open(files['summary'], 'w') as f:
        json.dump(result, f, indent=2)
    return dict(result, table=table)


def format_summary(result: dict, out_dir: str) -> str:
    """The closing report: scores table, times, scores, where the files
    are."""
    seconds, metrics, files = (result['seconds'], result['metrics'],
                               result['files'])
    lines = [result['table']]
    lines.append(
        'wall time: ' +
        ', '.join(f'{k} {v:.0f} s'
                  for k, v in seconds.items() if k != 'total') +
        f'; total {seconds["total"]:.0f} s ({seconds["total"] / 60:.1f} min)')
    lines.append(
        f'test meanDic {metrics["meanDic"]:.4f}, mDice '
        f'{metrics["mDice"]:.4f}, mIoU {metrics["mIoU"]:.4f}, Sm '
        f'{metrics["Sm"]:.4f} ({result["test_frames"]} synthetic test '
        f'frames, {result["iters"]} training iterations)')
    lines.append(f'everything is under {out_dir}:')
    width = max(len(k) for k in files)
    lines += [
        f'  {key:<{width}}  {osp.relpath(path, out_dir)}'
        for key, path in files.items()
    ]
    return '\n'.join(lines)
