"""Pack what a GPU machine without network lacks for the GPU proof: the
wheels of the OpenMMLab stack and this package for its Python, and a slice
of the PraNet data (docs/gpu_proof.md).

Examples:
    python tools/gpu_proof/build_bundle.py --data /data/polyp
    python tools/gpu_proof/build_bundle.py --data /data/polyp \\
        --kvasir-train 200 --clinicdb-train 120 --budget-mib 56
"""
import argparse
import os
import sys

from ssformer_mmseg.gpu_proof.bundle import (BundleSpec, build_bundle,
                                             parse_versions)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Build the GPU proof\'s bundle (wheels + data slice)')
    parser.add_argument(
        '--out', default='.gpu_bundle', help='the bundle folder (emptied)')
    parser.add_argument(
        '--data',
        default=os.environ.get('POLYP_DATA_ROOT'),
        help='PraNet-layout data to slice (kvasir-seg/, cvc-clinicdb/, '
        'splits/pranet/; default: $POLYP_DATA_ROOT)')
    parser.add_argument(
        '--no-data', action='store_true', help='carry wheels only')
    parser.add_argument(
        '--kvasir-train',
        type=int,
        default=300,
        help='Kvasir-SEG training pairs to carry (every test pair is)')
    parser.add_argument(
        '--clinicdb-train',
        type=int,
        default=150,
        help='CVC-ClinicDB training pairs to carry')
    parser.add_argument(
        '--budget-mib',
        type=float,
        default=56.0,
        help='largest bundle; training pairs stop where it is reached')
    parser.add_argument(
        '--python-version',
        default='3.12',
        help='the GPU machine\'s Python (default: 3.12)')
    parser.add_argument(
        '--version',
        action='append',
        default=[],
        metavar='NAME==VERSION',
        help='carry this version instead of the one installed here')
    parser.add_argument(
        '--find-links',
        help='take the wheels from this folder, not the package index')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if not args.no_data and not args.data:
        print(
            'error: name the data (--data or POLYP_DATA_ROOT), or '
            '--no-data',
            file=sys.stderr)
        return 2
    try:
        versions = parse_versions(args.version)
    except ValueError as error:
        print(f'error: --version: {error}', file=sys.stderr)
        return 2
    spec = BundleSpec(
        out=args.out,
        data_root=None if args.no_data else args.data,
        train_pairs=dict(
            kvasir=args.kvasir_train, clinicdb=args.clinicdb_train),
        budget_mib=args.budget_mib,
        python_version=args.python_version,
        versions=versions,
        find_links=args.find_links)
    try:
        build_bundle(spec, log=print)
    except (RuntimeError, ValueError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
