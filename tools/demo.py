"""Demo: train SSFormer on synthetic polyps on a CPU, evaluate, draw results.

Real polyp data cannot ship with the repository, so this generates a
licence-free colonoscopy-like set (``ssformer_mmseg/datasets/synthetic.py``),
trains an SSFormer-S-structured model on it from scratch with the official
augmentations (``configs/demo_ssformer_s_synthetic.py``: MiT-B0-sized
encoder, 192x192 input, 1000 iterations), tests the final checkpoint with
the polyp metrics and draws the results. Everything goes under ``--out-dir``:

    data/                   the synthetic set (reused when complete)
    train/                  training logs, config, final checkpoint
    test/                   test log, per_image.csv, dice_vs_threshold.png
    test/prob_maps/Synthetic/<stem>.png   8-bit probability maps
    overlays/<stem>.png     image | ground truth | prediction, a few frames
    overlays.png            those frames in one picture
    learning_curve.png      training loss and test meanDic / mDice
    metrics.txt, summary.json   the metric table; times, scores, paths

Examples:
    python tools/demo.py                                 # make demo
    python tools/demo.py --out-dir /tmp/demo --iters 400
    python tools/demo.py --iters 4 --train-size 8 --test-size 4  # smoke run
"""
import argparse
import copy
import csv
import gc
import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ssformer_mmseg.config import load_config  # noqa: E402
from ssformer_mmseg.visualization import plot_learning_curve  # noqa: E402
from ssformer_mmseg.datasets.synthetic import (  # noqa: E402
    FOLDER, SyntheticPolypDataset, make_synthetic_polyp_set,
    synthetic_manifest, synthetic_set_is_complete)
from ssformer_mmseg.evaluation.polyp_scores import (  # noqa: E402
    METRIC_NAMES, format_table)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs',
                          'demo_ssformer_s_synthetic.py')
SET_NAME = SyntheticPolypDataset.DATASET_NAME


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--out-dir', default='work_dirs/demo',
        help='folder for everything the demo writes')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument(
        '--iters', type=int,
        help='training iterations (default: the config\'s); warm-up, decay '
        'and validation interval are scaled with them')
    parser.add_argument('--train-size', type=int, default=400,
                        help='synthetic training frames')
    parser.add_argument('--test-size', type=int, default=100,
                        help='synthetic test frames')
    parser.add_argument('--image-size', type=int, default=256,
                        help='side of the synthetic frames (pixels)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the synthetic set')
    parser.add_argument('--overlays', type=int, default=8,
                        help='test frames to draw (worst to best Dice)')
    parser.add_argument(
        '--regenerate', action='store_true',
        help='rebuild the synthetic set even if a complete one is there')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    for name in ('iters', 'train_size', 'test_size'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    if args.image_size < 32:
        parser.error('--image-size must be at least 32')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the demo; returns the summary it also writes as JSON."""
    args = parse_args(argv)
    out_dir = osp.abspath(args.out_dir)
    data_root = osp.join(out_dir, 'data')
    os.makedirs(out_dir, exist_ok=True)
    times: Dict[str, float] = {}
    start = time.perf_counter()

    banner('1/4 data: synthetic colonoscopy-like frames')
    tick = time.perf_counter()
    make_data(args, data_root)
    times['data'] = time.perf_counter() - tick

    banner('2/4 training (mmengine logs every few iterations, with ETA)')
    tick = time.perf_counter()
    cfg = demo_config(args, data_root)
    checkpoint, log_dir = train(cfg, osp.join(out_dir, 'train'))
    times['train'] = time.perf_counter() - tick

    banner('3/4 testing the final checkpoint')
    tick = time.perf_counter()
    test_dir = osp.join(out_dir, 'test')
    metrics = test(cfg, checkpoint, test_dir)
    times['test'] = time.perf_counter() - tick

    banner('4/4 pictures')
    tick = time.perf_counter()
    summary = {m: metrics[f'{SET_NAME}/{m}'] for m in METRIC_NAMES}
    table = format_table({SET_NAME: summary}, {SET_NAME: args.test_size})
    files = dict(
        metrics=osp.join(out_dir, 'metrics.txt'),
        per_image=osp.join(test_dir, 'per_image.csv'),
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
                  files['overlay_dir'], files['overlays'], args.overlays)
    plot_learning_curve(
        osp.join(log_dir, 'vis_data', 'scalars.json'),
        files['learning_curve'], 'SSFormer demo on synthetic polyps',
        max_iters=cfg.train_cfg.max_iters,
        final={f'{SET_NAME}/meanDic': summary['meanDic']})
    times['pictures'] = time.perf_counter() - tick
    times['total'] = time.perf_counter() - start

    result = dict(
        seconds={k: round(v, 1) for k, v in times.items()},
        metrics=summary,
        iters=cfg.train_cfg.max_iters,
        train_frames=args.train_size,
        test_frames=args.test_size,
        files=files)
    with open(files['summary'], 'w') as f:
        json.dump(result, f, indent=2)
    print_summary(result, table, out_dir)
    return result


def banner(text: str) -> None:
    """A visible phase header between mmengine's log lines."""
    print(f'\n===== {text} =====', flush=True)


def make_data(args: argparse.Namespace, data_root: str) -> None:
    """Generate the synthetic set under ``data_root`` unless a complete one
    with the same parameters is there."""
    manifest = synthetic_manifest(args.train_size, args.test_size,
                                  args.image_size, args.seed)
    if not args.regenerate and synthetic_set_is_complete(data_root, manifest):
        print(f'reusing the complete synthetic set in {data_root} '
              '(--regenerate rebuilds it)', flush=True)
        return
    total = args.train_size + args.test_size
    step = max(1, total // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f'  {done}/{total} frames', flush=True)

    print(f'writing {args.train_size} training and {args.test_size} test '
          f'frames of {args.image_size}x{args.image_size} to {data_root}',
          flush=True)
    make_synthetic_polyp_set(
        data_root, args.train_size, args.test_size, args.image_size,
        args.seed, overwrite=True, progress=progress)


def demo_config(args: argparse.Namespace, data_root: str) -> Config:
    """The demo config with the data root, the schedule length and the
    command line's overrides applied."""
    # data_root through load_config, which moves every dataset of the config.
    cfg = load_config(args.config,
                      {**(args.cfg_options or {}), 'data_root': data_root})
    if args.iters is not None:
        scale_schedule(cfg, args.iters)
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


def train(cfg: Config, work_dir: str) -> tuple:
    """Train with mmengine's Runner.

    Returns:
        tuple[str, str]: The final checkpoint and the run's log folder.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    # Runners of one process share Visualizer / logger instances by name;
    # distinct names keep the test run from writing into the training logs.
    cfg.visualizer.name = f'demo_train_{time.time_ns()}'
    cfg.experiment_name = cfg.visualizer.name
    runner = Runner.from_cfg(cfg)
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
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.visualizer.name = f'demo_test_{time.time_ns()}'
    cfg.experiment_name = cfg.visualizer.name
    cfg.test_evaluator = dict(
        type='PolypMetric',
        report_dir=work_dir,
        prob_map_dir=osp.join(work_dir, 'prob_maps'))
    runner = Runner.from_cfg(cfg)
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
    picks = sorted(set(np.round(np.linspace(
        0, len(rows) - 1, min(count, len(rows)))).astype(int)))
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(osp.join(out_dir, '*.png')):
        os.remove(old)  # from an earlier run with other frames
    tiles, stems = [], []
    for i in picks:
        stem, dice = rows[i]['image'], float(rows[i]['mDice'])
        image = cv2.imread(osp.join(data_root, FOLDER, 'images',
                                    stem + '.png'))
        gt = cv2.imread(osp.join(data_root, FOLDER, 'masks', stem + '.png'),
                        cv2.IMREAD_GRAYSCALE) > 127
        prob = cv2.imread(osp.join(map_dir, stem + '.png'),
                          cv2.IMREAD_GRAYSCALE)
        tile = overlay_tile(image, gt, prob, f'{stem}  Dice {dice:.3f}')
        cv2.imwrite(osp.join(out_dir, stem + '.png'), tile)
        tiles.append(tile)
        stems.append(stem)
    columns = 2 if len(tiles) > 3 else 1
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows_img = [
        np.concatenate(tiles[r:r + columns], axis=1)
        for r in range(0, len(tiles), columns)
    ]
    cv2.imwrite(grid_path, np.concatenate(rows_img, axis=0))
    return stems


def overlay_tile(image: np.ndarray, gt: np.ndarray, prob: np.ndarray,
                 title: str) -> np.ndarray:
    """One row: the frame, the ground truth (green) and the prediction
    (probability >= 0.5 in yellow, ground-truth outline in green), with a
    title bar."""
    green, yellow = (60, 200, 60), (0, 220, 255)
    pred = prob >= 128

    def tinted(mask: np.ndarray, colour: tuple) -> np.ndarray:
        out = image.copy()
        out[mask] = (0.55 * out[mask] + 0.45 * np.array(colour)).astype(
            np.uint8)
        return out

    gt_panel = tinted(gt, green)
    pred_panel = tinted(pred, yellow)
    contours, _ = cv2.findContours(
        gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for panel in (gt_panel, pred_panel):
        cv2.drawContours(panel, contours, -1, green, 1)
    pred_contours, _ = cv2.findContours(
        pred.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(pred_panel, pred_contours, -1, yellow, 1)
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    row = np.concatenate([image, gap, gt_panel, gap, pred_panel], axis=1)
    bar = np.full((22, row.shape[1], 3), 255, np.uint8)
    labels = ('image', 'ground truth', 'prediction (p >= 0.5)')
    for k, label in enumerate(labels):
        cv2.putText(bar, label, (k * (image.shape[1] + 4) + 4, 15),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    foot = np.full((20, row.shape[1], 3), 255, np.uint8)
    cv2.putText(foot, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, row, foot, np.full_like(foot[:6], 255)],
                          axis=0)


def print_summary(result: dict, table: str, out_dir: str) -> None:
    """The closing report: times, scores, where the files are."""
    seconds, metrics, files = (result['seconds'], result['metrics'],
                               result['files'])
    banner('summary')
    print(table)
    print('wall time: ' + ', '.join(
        f'{k} {v:.0f} s' for k, v in seconds.items() if k != 'total') +
        f'; total {seconds["total"]:.0f} s ({seconds["total"] / 60:.1f} min)')
    print(f'test meanDic {metrics["meanDic"]:.4f}, mDice '
          f'{metrics["mDice"]:.4f}, mIoU {metrics["mIoU"]:.4f}, Sm '
          f'{metrics["Sm"]:.4f} ({result["test_frames"]} synthetic test '
          f'frames, {result["iters"]} training iterations)')
    print(f'everything is under {out_dir}:')
    width = max(len(k) for k in files)
    for key, path in files.items():
        print(f'  {key:<{width}}  {osp.relpath(path, out_dir)}')


if __name__ == '__main__':
    main()
