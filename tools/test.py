"""Test a checkpoint, as mmseg's ``tools/test.py`` does, with SSFormer.

Examples:
    python tools/test.py configs/ssformer_s_kvasir.py \\
        work_dirs/ssformer_s_kvasir/iter_20000.pth
    python tools/test.py configs/ssformer_s_pranet.py ckpt.pth \\
        --show-dir overlays --cfg-options data_root=/data/polyp
"""
import argparse

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_bootstrap_arguments, add_config_argument,
                                add_fast_inference_arguments,
                                add_runner_arguments, bootstrap_settings,
                                fast_inference_options, runner_config)
from ssformer_mmseg.engine import runs
from ssformer_mmseg.engine.process_tree import dump_stacks_on_signal


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    add_config_argument(parser, 'test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='directory to save 8-bit probability maps in, as '
        '<out>/<test set>/<image stem>.png at ground-truth resolution '
        '(the layout public polyp toolboxes read), with per_image.csv, '
        'dice_vs_threshold.{csv,png} and a copy of each frame and ground '
        'truth under <out>/review: the folder tools/webapp.py reviews; for '
        'mmseg metrics, their predicted masks')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_pipeline (flips), '
        'probabilities averaged by its tta_model')
    parser.add_argument(
        '--show-dir',
        help='directory to save drawn images (ground truth and prediction)')
    add_fast_inference_arguments(parser)
    add_bootstrap_arguments(parser)
    add_runner_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    dump_stacks_on_signal()  # kill -USR1 <pid>: where is it stuck?
    cfg = runner_config(args)
    runs.test_config(
        cfg,
        args.checkpoint,
        out=args.out,
        tta=args.tta,
        show_dir=args.show_dir,
        fast=fast_inference_options(args),
        bootstrap=bootstrap_settings(args))
    runs.test(cfg, output_dirs=(args.out, args.show_dir))


if __name__ == '__main__':
    main()
