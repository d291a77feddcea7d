"""Score a deployed model (tools/deploy.py) on test sets with PolypMetric.

The model runs from its folder alone (its engine, precision and
preprocessing come from deploy.json); the test sets come from deploy.json
too (the datasets it was scored on, as data), with --cfg-options
data_root=DIR to point them at the data here, or from --config's test
dataloader. Nothing in the folder is executed: its source_config.py is a
record, never run. Prints the table
tools/test.py prints (with confidence intervals) and writes per_image.csv,
scores.{json,csv} and dice_vs_threshold.png.

Examples:
    python tools/score_deployed.py deployed/s_int8 \\
        --cfg-options data_root=data/polyp
    python tools/score_deployed.py deployed/s_int8 \\
        --config configs/ssformer_s_pranet.py --sets Kvasir CVC-ClinicDB
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_bootstrap_arguments,
                                add_cfg_options_argument, bootstrap_settings,
                                progress_bar)
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.deploy import DeployedModel, score_segmenter
from ssformer_mmseg.evaluation.reports import report_scores
from ssformer_mmseg.evaluation.saved_maps import ground_truth


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('deployed_dir', help='folder tools/deploy.py wrote')
    parser.add_argument(
        '--config',
        help='config whose test sets to score (default: the test sets '
        'deploy.json describes)')
    parser.add_argument(
        '--sets', nargs='+', help='test sets to score (default: all)')
    parser.add_argument(
        '--device',
        default='cpu',
        help='cpu, or gpu / cuda for engines that '
        'run there (default: cpu)')
    parser.add_argument(
        '--report-dir',
        help='where to write per_image.csv, scores.{json,csv} and '
        'dice_vs_threshold.png (default: '
        'work_dirs/score_deployed/<folder name>)')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    add_bootstrap_arguments(parser)
    add_cfg_options_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        deployed = DeployedModel.load(args.deployed_dir)
        config = args.config or deployed.test_sets_config()
        if config is None:
            raise ValueError(
                f'{args.deployed_dir}: deploy.json describes no test sets '
                '(deployed by an earlier version); name them with --config '
                '(the folder\'s source_config.py is never executed)')
        samples = ground_truth(
            load_config(config, args.cfg_options), args.sets)
        segmenter = deployed.segmenter(device=args.device)
        scores = score_segmenter(segmenter, samples,
                                 None if args.no_progress else progress_bar())
    except (PolypFileError, FileNotFoundError, ImportError,
            ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'{deployed.backend} {deployed.precision} on {segmenter.device}')
    report_dir = args.report_dir or osp.join(
        'work_dirs', 'score_deployed',
        osp.basename(osp.normpath(args.deployed_dir)))
    report_scores(scores, report_dir, bootstrap_settings(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
