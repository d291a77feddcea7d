"""Train a segmentor, as mmseg's ``tools/train.py`` does, with SSFormer.

Examples:
    python tools/train.py configs/ssformer_s_kvasir.py
    python tools/train.py configs/ssformer_l_pranet.py --amp \\
        --cfg-options data_root=/data/polyp train_dataloader.batch_size=8
"""
import argparse
import sys

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_config_argument, add_runner_arguments,
                                positive_seconds, runner_config)
from ssformer_mmseg.engine import runs
from ssformer_mmseg.engine.process_tree import dump_stacks_on_signal


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    add_config_argument(parser, 'train config file path')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision: fp16 with dynamic loss scaling on '
        'CUDA (mmengine AmpOptimWrapper), bf16 on CPU '
        '(AutocastOptimWrapper)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='train in the channels_last memory format (ChannelsLastHook)')
    parser.add_argument(
        '--time-limit',
        type=positive_seconds,
        metavar='SECONDS',
        help='stop training after this many seconds, saving the weights '
        'of the iteration it stops at (TrainTimeLimitHook); the schedule is '
        'not shortened')
    add_runner_arguments(parser)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    dump_stacks_on_signal()  # kill -USR1 <pid>: where is it stuck?
    cfg = runner_config(args)
    if args.amp:
        runs.use_amp(cfg)
    if args.channels_last:
        runs.add_hook(cfg, dict(type='ChannelsLastHook'))
    if args.time_limit is not None:
        runs.add_hook(cfg,
                      dict(type='TrainTimeLimitHook', seconds=args.time_limit))
    try:
        if args.resume:
            runs.resume_from(cfg)
        cfg.resume = args.resume
        runs.train(cfg)
    except runs.RunError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
