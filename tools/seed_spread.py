"""Train one config with several seeds, test each run, and tabulate how
much the scores move from seed to seed.

Each seed trains in WORK_DIR/seed_<k> (randomness.seed=<k>; a seed whose
run finished is not trained again) and is tested with tools/test.py (maps
under seed_<k>/test/maps, for tools/compare_models.py). Writes
seed_spread.{md,csv,json} to WORK_DIR: per test set and score, every run's
value, mean ± standard deviation, range, and the gap two runs of the recipe
stay within 95 % of the time.

Examples:
    python tools/seed_spread.py configs/experiments/ssformer_s_seed_spread_128.py \\
        --seeds 0 1 2 --work-dir work_dirs/seed_spread \\
        --cfg-options data_root=data/polyp
    python tools/seed_spread.py CONFIG --seeds 0 1 2 3 4 --no-test
"""  # noqa: E501
import argparse
import sys
from typing import List, Optional

from ssformer_mmseg.cli import add_config_argument
from ssformer_mmseg.engine.seed_spread import (format_spread, train_and_test,
                                               write_spread)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(parser, 'the recipe\'s config file')
    parser.add_argument(
        '--seeds',
        nargs='+',
        type=int,
        default=[0, 1, 2],
        help='the seeds, one run each (default: 0 1 2)')
    parser.add_argument(
        '--work-dir',
        required=True,
        help='parent of the runs\' work dirs; the tables go here')
    parser.add_argument(
        '--no-test', action='store_true', help='train only, test nothing')
    parser.add_argument(
        '--test-options',
        nargs=argparse.REMAINDER,
        default=[],
        help='everything after it goes to tools/test.py (e.g. --tta)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='settings for training and testing alike, e.g. data_root=DIR')
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds repeats a seed: {args.seeds}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        runs = train_and_test(
            args.config,
            args.seeds,
            args.work_dir,
            args.cfg_options,
            test=not args.no_test,
            test_options=args.test_options,
            log=print)
    except RuntimeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    if not args.no_test:
        print(format_spread(runs))
    for path in write_spread(runs, args.work_dir):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
