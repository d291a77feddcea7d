"""Train a segmentor, as mmseg's ``tools/train.py`` does, with SSFormer.

Examples:
    python tools/train.py configs/ssformer_s_kvasir.py
    python tools/train.py configs/ssformer_l_pranet.py --amp \\
        --cfg-options data_root=/data/polyp train_dataloader.batch_size=8
"""
import argparse
import logging
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
import torch  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmseg.registry import RUNNERS  # noqa: E402

from ssformer_mmseg.compat import shutdown_distributed  # noqa: E402
from ssformer_mmseg.config import (add_runner_arguments,  # noqa: E402
                                   runner_config)
from ssformer_mmseg.engine import resumable_checkpoint  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
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
    add_runner_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = runner_config(args)
    if args.amp:
        if cfg.optim_wrapper.type in ('AmpOptimWrapper',
                                      'AutocastOptimWrapper'):
            print_log('AMP training is already enabled in the config.',
                      logger='current', level=logging.WARNING)
        elif torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        else:
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
    if args.channels_last:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='ChannelsLastHook')]
    if args.resume:
        resume_from(cfg)
    cfg.resume = args.resume
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
        else Runner.from_cfg(cfg)
    runner.train()
    shutdown_distributed()


def resume_from(cfg) -> None:
    """Point ``cfg.load_from`` at the newest complete checkpoint of the work
    dir, skipping (with a warning) any that a crash left truncated."""
    checkpoint, skipped = resumable_checkpoint(cfg.work_dir)
    for problem in skipped:
        print_log(f'not resuming from {problem}', logger='current',
                  level=logging.WARNING)
    if checkpoint is not None:
        print_log(f'resuming from {checkpoint}', logger='current')
        cfg.load_from = checkpoint
    elif skipped:
        sys.exit(f'error: --resume: no complete checkpoint in {cfg.work_dir} '
                 f'({len(skipped)} unusable); remove them to start afresh')


if __name__ == '__main__':
    main()
