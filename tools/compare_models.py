"""Compare two models on the same images: each score's difference with a
paired bootstrap interval and a Wilcoxon signed-rank p-value, per test set
and pooled, the images where they disagree most, and one picture.

A and B are tools/test.py --out folders (each scored against its own
ground-truth copies, which must be the same), or two folders of maps
(<set>/<stem>.png) scored against --config's test sets. Writes
comparison.{md,json,csv,png} to --out.

Examples:
    python tools/compare_models.py runs/seed0 runs/seed1 \\
        --labels "seed 0" "seed 1" --out work_dirs/seed0_vs_seed1
    python tools/compare_models.py maps/PraNet maps/ours \\
        --config configs/ssformer_s_pranet.py --sets Kvasir CVC-ClinicDB \\
        --cfg-options data_root=data/polyp
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_bootstrap_arguments,
                                add_cfg_options_argument,
                                add_threshold_argument, bootstrap_settings)
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.evaluation.paired_comparison import (compare_folders,
                                                         format_comparison,
                                                         write_comparison)
from ssformer_mmseg.evaluation.saved_maps import ground_truth


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('a', help='model A: a test run or map folder')
    parser.add_argument('b', help='model B: a test run or map folder')
    parser.add_argument(
        '--labels',
        nargs=2,
        metavar=('A', 'B'),
        help='names of A and B (default: the folder names)')
    parser.add_argument(
        '--config',
        help='score two map folders against this config\'s test sets '
        '(default: A and B are tools/test.py --out folders)')
    parser.add_argument(
        '--sets', nargs='+', help='with --config: the test sets to score')
    add_threshold_argument(parser)
    parser.add_argument(
        '--worst',
        type=int,
        default=10,
        help='disagreeing images listed per set (default: 10)')
    parser.add_argument(
        '--out',
        help='where to write comparison.{md,json,csv,png} (default: '
        'work_dirs/compare_models/<A>_vs_<B>)')
    add_bootstrap_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    if args.sets and not args.config:
        parser.error('--sets needs --config (a test run folder holds its '
                     'own sets)')
    if args.bootstrap_resamples == 0:
        parser.error('a paired comparison needs --bootstrap-resamples > 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = [osp.basename(osp.normpath(folder)) for folder in (args.a, args.b)]
    labels = tuple(args.labels or names)
    try:
        samples = None
        if args.config:
            samples = ground_truth(
                load_config(args.config, args.cfg_options), args.sets)
        comparison = compare_folders(args.a, args.b, samples, labels,
                                     bootstrap_settings(args), args.threshold,
                                     args.worst)
    except (PolypFileError, FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(format_comparison(comparison))
    out = args.out or osp.join('work_dirs', 'compare_models',
                               f'{names[0]}_vs_{names[1]}')
    for path in write_comparison(comparison, out):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
