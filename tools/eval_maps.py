"""Score saved prediction maps against ground truth, without a model.

This is how methods that only released their prediction maps are compared:
the maps are read as ``PRED_DIR/<test set>/<image stem>.png`` (the layout of
the public polyp toolboxes and of ``tools/test.py --out``), the ground truth
and the test sets come from a config's test dataloader, and every score is
computed exactly as ``PolypMetric`` computes it during testing.

Examples:
    python tools/eval_maps.py results/PraNet configs/ssformer_s_pranet.py
    python tools/eval_maps.py my_maps configs/ssformer_s_kvasir.py \\
        --sets Kvasir --cfg-options data_root=/data/polyp
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_bootstrap_arguments,
                                add_cfg_options_argument, add_config_argument,
                                add_threshold_argument, bootstrap_settings)
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.evaluation.reports import report_scores
from ssformer_mmseg.evaluation.saved_maps import ground_truth, score_saved_maps


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n', 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('pred_dir', help='folder of <test set>/<stem>.png')
    add_config_argument(parser, 'config whose test sets to score')
    parser.add_argument(
        '--sets', help='comma-separated test sets to score (default: all)')
    add_threshold_argument(parser)
    parser.add_argument(
        '--report-dir',
        help='where to write per_image.csv, scores.{json,csv} (every '
        'score with its interval) and dice_vs_threshold.png (default: '
        'work_dirs/eval_maps/<pred_dir name>)')
    add_bootstrap_arguments(parser)
    add_cfg_options_argument(parser)
    return parser.parse_args(argv)


def print_progress(done: int, total: int) -> None:
    if done % max(1, total // 10) == 0 or done == total:
        print(f'scored {done}/{total} maps', flush=True)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    sets = args.sets.split(',') if args.sets else None
    samples = ground_truth(cfg, sets)
    scores = score_saved_maps(args.pred_dir, samples, args.threshold,
                              print_progress)
    report_dir = args.report_dir or osp.join(
        'work_dirs', 'eval_maps', osp.basename(osp.normpath(args.pred_dir)))
    return report_scores(scores, report_dir, bootstrap_settings(args)).summary


if __name__ == '__main__':
    try:
        main()
    except (PolypFileError, ValueError) as error:
        sys.exit(f'error: {error}')
