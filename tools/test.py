"""Test a checkpoint, as mmseg's ``tools/test.py`` does, with SSFormer.

Examples:
    python tools/test.py configs/ssformer_s_kvasir.py work_dirs/x/iter_20000.pth
    python tools/test.py configs/ssformer_s_pranet.py ckpt.pth \\
        --show-dir overlays --cfg-options data_root=/data/polyp
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ssformer_mmseg.config import load_config, set_work_dir  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument(
        '--out', help='directory to save the predicted masks in')
    parser.add_argument(
        '--show-dir',
        help='directory to save drawn images (ground truth and prediction)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs; data_root=DIR '
        'moves every dataset of the config')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        # mmseg's hook draws every 50th image by default; --show-dir means all.
        cfg.default_hooks.visualization.update(draw=True, interval=1)
        cfg.visualizer.save_dir = args.show_dir
    if args.out is not None:
        cfg.test_evaluator.output_dir = args.out
        cfg.test_evaluator.keep_results = True
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
