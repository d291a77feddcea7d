"""Compare training runs: learning curves in one plot, test scores in a table.

Curves are drawn against the training images seen, so runs with different
batch sizes, epoch- or iteration-based, line up. Test scores are read from
the work dirs of tools/test.py runs.

Examples:
    python tools/compare_runs.py \\
        --run authors configs/experiments/ssformer_s_kvasir_authors_scratch_128.py work_dirs/authors \\
        --run ours configs/experiments/ssformer_s_kvasir_ours_scratch_128.py work_dirs/ours \\
        --test "authors, last" work_dirs/authors/test_last/kvasir \\
        --test "authors, last" work_dirs/authors/test_last/clinicdb \\
        --out curves.png --cfg-options data_root=/data/polyp
"""  # noqa: E501
import argparse
import sys
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import add_cfg_options_argument
from ssformer_mmseg.config import load_config
from ssformer_mmseg.engine.run_records import (read_test_scores, run_curves,
                                               score_table)
from ssformer_mmseg.visualization import plot_compared_runs


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 2)[2])
    parser.add_argument(
        '--run',
        nargs=3,
        action='append',
        default=[],
        metavar=('LABEL', 'CONFIG', 'WORK_DIR'),
        help='a training run: its label, config and work dir')
    parser.add_argument(
        '--test',
        nargs=2,
        action='append',
        default=[],
        metavar=('LABEL', 'WORK_DIR'),
        help='a row of the score table: label and tools/test.py work dir '
        '(a label given again adds that test\'s sets to its row)')
    parser.add_argument('--out', help='PNG of the learning curves')
    parser.add_argument('--title', default='learning curves')
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    if args.run and not args.out:
        parser.error('--run needs --out (the PNG to draw)')
    try:
        curves = [
            run_curves(label, load_config(config, args.cfg_options), work)
            for label, config, work in args.run
        ]
        rows = {}
        for label, work in args.test:
            # One label given twice (two test sets) is one row.
            rows.setdefault(label, {}).update(read_test_scores(work))
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    if curves:
        plot_compared_runs(curves, args.out, args.title)
        print(f'wrote {args.out}')
    if rows:
        print(score_table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
