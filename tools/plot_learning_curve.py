"""Draw a training run's losses and validation meanDic / mDice as a PNG.

Examples:
    python tools/plot_learning_curve.py work_dirs/ssformer_s_kvasir
    python tools/plot_learning_curve.py \\
        run/20261126_120000/vis_data/scalars.json --out curve.png \\
        --title "SSFormer-S from scratch"
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from ssformer_mmseg.visualization.plots import (find_scalars,
                                                plot_learning_curve)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('run', help='work dir or scalars.json')
    parser.add_argument(
        '--out', help='PNG (default: <work dir>/'
        'learning_curve.png)')
    parser.add_argument('--title', default='learning curve')
    args = parser.parse_args(argv)
    try:
        scalars = find_scalars(args.run)
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    out = args.out or osp.join(
        args.run if osp.isdir(args.run) else osp.dirname(scalars),
        'learning_curve.png')
    plot_learning_curve(scalars, out, args.title)
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
