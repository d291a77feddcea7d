"""Prepare the public polyp downloads in the one layout the datasets read.

Each source option points at an extracted download, in its own layout (folder
names are matched case-insensitively, ignoring spaces, "-" and "_"; a
download extracted into a folder of its own is found up to two such
single-folder wrappers down):

    --kvasir    Kvasir-SEG: images/ + masks/ (JPEG)
    --clinicdb  CVC-ClinicDB: Original/ + Ground Truth/ (TIFF), or
                PNG/Original/ + PNG/Ground Truth/, or images/ + masks/
    --colondb   CVC-ColonDB: images/ + masks/
    --etis      ETIS-LaribPolypDB: ETIS-LaribPolypDB/N.tif +
                Ground Truth/pN.tif (or images/ + masks/); both become N
    --cvc300    CVC-300: images/ + masks/
    --pranet    PraNet's TrainDataset/ + TestDataset/: fills all five sets
                and writes PraNet's split lists from the folder membership

and the result is, under --out (default data/polyp):

    kvasir-seg/ cvc-clinicdb/ cvc-colondb/ etis-laribpolypdb/ cvc-300/
        images/<stem>.jpg|.png   masks/<stem>.jpg|.png
    splits/pranet/{kvasir,clinicdb}_{train,test}.txt
    splits/clinicdb_sequence/{train,test}.txt   (--clinicdb-sequence-split)

JPEG and PNG files are kept byte for byte (copied, or linked with --link);
other formats (TIFF, BMP) are converted to PNG, masks as 0/255. Files are
named by their content (.jpg for JPEG, .png otherwise) whatever their suffix
in the download; images and masks are paired by stem, case-insensitively.
CVC-ClinicDB's README.txt is copied along: its frame-to-sequence table is
what --clinicdb-sequence-split reads. Every pair is checked as the datasets
check it (ssformer_mmseg.datasets.polyp_files); all problems of a run are
reported together, and then nothing is written: the sets are built in a
temporary folder under --out and moved into place only when everything
passed. Existing set and split folders are only replaced with --overwrite.

PraNet's split lists come from --pranet (its folders) or --split-dir (lists
checked against the sets, which may have been prepared by an earlier run).

In image and mask folders, hidden files (.DS_Store, ._*), Thumbs.db and
desktop.ini are ignored; any other file that is not an image (.jpg, .jpeg,
.png, .tif, .tiff, .bmp) is reported, since it may be a frame in a format
this tool does not know, which would otherwise vanish unnoticed.

Examples:
    python tools/prepare_polyp_data.py --pranet downloads/PraNet
    python tools/prepare_polyp_data.py --kvasir downloads/Kvasir-SEG \\
        --clinicdb downloads/CVC-ClinicDB --split-dir my_pranet_lists \\
        --clinicdb-sequence-split --link hard
"""
import argparse
import dataclasses
import os.path as osp
import sys
import warnings
from typing import Iterator, Optional, Sequence

import cv2

from ssformer_mmseg.datasets.preparation import (AUTO, SETS, PrepareError,
                                                 PrepareOptions, option_error,
                                                 prepare, summary_table)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f'{text} is not between 0 and 1')
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description='Prepare polyp segmentation downloads in the layout '
        'the ssformer_mmseg datasets read.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    sources = parser.add_argument_group('sources (extracted downloads)')
    for polyp_set in SETS:
        sources.add_argument(
            f'--{polyp_set.key}',
            metavar='DIR',
            help=f'{polyp_set.name} download')
    sources.add_argument(
        '--pranet',
        metavar='DIR',
        help='PraNet\'s TrainDataset/ + TestDataset/: all five sets and '
        'PraNet\'s split lists')
    splits = parser.add_argument_group('split lists')
    splits.add_argument(
        '--split-dir',
        metavar='DIR',
        help='folder with {kvasir,clinicdb}_{train,test}.txt to check and '
        'write to OUT/splits/pranet/')
    splits.add_argument(
        '--clinicdb-sequence-split',
        nargs='?',
        const=AUTO,
        metavar='README',
        help='also split CVC-ClinicDB by video sequence into '
        'OUT/splits/clinicdb_sequence/, from the frame-to-sequence table '
        'of its README.txt (default: the one in the --clinicdb download or '
        'in OUT/cvc-clinicdb/)')
    splits.add_argument(
        '--test-fraction',
        type=_fraction,
        default=0.1,
        metavar='FRACTION',
        help='share of ClinicDB frames for the sequence split\'s test side '
        '(default: 0.1)')
    splits.add_argument(
        '--seed',
        type=int,
        default=0,
        metavar='N',
        help='seed choosing the test sequences (default: 0)')
    output = parser.add_argument_group('output')
    output.add_argument(
        '--out',
        default='data/polyp',
        metavar='DIR',
        help='data root to write (default: data/polyp)')
    output.add_argument(
        '--link',
        choices=('none', 'hard', 'sym'),
        default='none',
        help='link JPEG/PNG files instead of copying them (default: none); '
        'other formats are always converted')
    output.add_argument(
        '--overwrite',
        action='store_true',
        help='replace set and split folders that exist')
    return parser


def options_of(args: argparse.Namespace) -> PrepareOptions:
    """The run the parsed arguments ask for."""
    return PrepareOptions(**{
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(PrepareOptions)
    })


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and cross-check the arguments (exits 2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    error = option_error(options_of(args))
    if error:
        parser.error(error)
    return args


def _track(items: Sequence, label: str) -> Iterator:
    """Yield ``items``, showing a live counter on a terminal."""
    live = sys.stdout.isatty()
    for number, item in enumerate(items, 1):
        yield item
        if live and (number % 20 == 0 or number == len(items)):
            print(f'\r{label}: {number}/{len(items)}', end='', flush=True)
    if live:
        print('\r', end='')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool.

    Returns:
        int: 0 on success, 1 when problems were found (all reported, nothing
        written), 2 on a usage error.
    """
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    # Every unreadable file is reported by name below; the decoders' own
    # warnings and log lines about it would only bury the report.
    log_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', module='PIL')
            results = prepare(options_of(args), report=print, track=_track)
    except PrepareError as error:
        print(
            f'\n{len(error.problems)} problem(s); nothing was written to '
            f'{args.out}:',
            file=sys.stderr)
        for problem in error.problems:
            print(f'  {problem}', file=sys.stderr)
        return 1
    except OSError as error:
        # Out of space, no permission: the temporary folder is gone again.
        print(
            f'\nerror: {error}; nothing was written to {args.out}',
            file=sys.stderr)
        return 1
    finally:
        cv2.utils.logging.setLogLevel(log_level)
    print('\n' + summary_table(results))
    print(f'written to {args.out}' +
          (f' ({args.link} links)' if args.link != 'none' else ''))
    if args.pranet is None and args.split_dir is None:
        if osp.isdir(osp.join(args.out, 'splits', 'pranet')):
            print('PraNet split lists: splits/pranet/ left as it was.')
        else:
            print('No PraNet split lists were written: pass --pranet DIR '
                  '(lists from PraNet\'s folders) or --split-dir DIR (a '
                  'folder with {kvasir,clinicdb}_{train,test}.txt).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
