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
import functools
import os.path as osp
from typing import Optional, Sequence

from ssformer_mmseg.cli import add_cfg_options_argument, add_config_argument
from ssformer_mmseg.demo import DemoOptions, banner, format_summary, run_demo


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--out-dir',
        default='work_dirs/demo',
        help='folder for everything the demo writes')
    add_config_argument(
        parser,
        'the demo model and schedule',
        name='--config',
        default='demo_ssformer_s_synthetic')
    parser.add_argument(
        '--iters',
        type=int,
        help='training iterations (default: the config\'s); warm-up, decay '
        'and validation interval are scaled with them')
    parser.add_argument(
        '--train-size',
        type=int,
        default=400,
        help='synthetic training frames')
    parser.add_argument(
        '--test-size', type=int, default=100, help='synthetic test frames')
    parser.add_argument(
        '--image-size',
        type=int,
        default=256,
        help='side of the synthetic frames (pixels)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the synthetic set')
    parser.add_argument(
        '--overlays',
        type=int,
        default=8,
        help='test frames to draw (worst to best Dice)')
    parser.add_argument(
        '--regenerate',
        action='store_true',
        help='rebuild the synthetic set even if a complete one is there')
    add_cfg_options_argument(parser)
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
    options = DemoOptions(**vars(parse_args(argv)))
    result = run_demo(options, log=functools.partial(print, flush=True))
    print(banner('summary'))
    print(format_summary(result, osp.abspath(options.out_dir)))
    return result


if __name__ == '__main__':
    main()
