"""Run the GPU proof: every CUDA path once, each figure in a results
folder (docs/gpu_proof.md).

Its first step needs nothing but the standard library: it prints what the
machine has (``pip list``, ``nvidia-smi``) and installs from the bundle
what is missing, into the work dir; then the steps run, each in a process
of its own with its own time limit.

Examples:
    python tools/gpu_proof/run.py --bundle .gpu_bundle --results results/
    python tools/gpu_proof/run.py --dry-run --bundle .gpu_bundle
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
#: Where the bootstrap module is: in a clone (tools/ beside the package)
#: and in an installed wheel (ssformer_mmseg/.mim/tools/).
BOOTSTRAP_PATHS = (
    osp.join(HERE, '..', '..', 'ssformer_mmseg', 'gpu_proof', 'bootstrap.py'),
    osp.join(HERE, '..', '..', '..', 'gpu_proof', 'bootstrap.py'),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the GPU proof (CUDA training, AMP, NCCL, GPU '
        'inference) and write its report')
    parser.add_argument(
        '--bundle',
        help='the folder tools/gpu_proof/build_bundle.py wrote (wheels and '
        'a data slice); without one nothing is installed and the steps '
        'that need data are skipped')
    parser.add_argument(
        '--results',
        default='work_dirs/gpu_proof',
        help='the report\'s folder: a few files, no subfolders (default: '
        'work_dirs/gpu_proof)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/gpu_proof_work',
        help='scratch space: installed wheels, step records, training runs')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='on the CPU with the tiny model and tiny sizes: the same code '
        'paths where they exist, in a few minutes')
    parser.add_argument(
        '--time-limit',
        type=float,
        default=None,
        help='seconds for the whole run, installation included (default: '
        '480; dry run: 900)')
    parser.add_argument(
        '--steps',
        nargs='+',
        metavar='STEP',
        help='the steps to run, of smoke, training, distributed, inference, '
        'scratch (default: all, in this order)')
    return parser.parse_args()


def load_bootstrap():
    """The bootstrap module, by its path: ``import ssformer_mmseg`` needs
    the packages it installs."""
    for path in BOOTSTRAP_PATHS:
        if osp.isfile(path):
            spec = importlib.util.spec_from_file_location(
                'gpu_proof_bootstrap', path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError('ssformer_mmseg/gpu_proof/bootstrap.py not found '
                            f'from {HERE}')


def main() -> int:
    start = time.time()
    args = parse_args()
    limit = args.time_limit or (900.0 if args.dry_run else 480.0)
    results = osp.abspath(args.results)
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(results, exist_ok=True)
    log_path = osp.join(results, 'gpu_proof.log')
    with open(log_path, 'w') as log_file:

        def log(message: str) -> None:
            print(message, flush=True)
            log_file.write(message + '\n')

        bootstrap = load_bootstrap()
        machine = bootstrap.describe_machine(log)
        install = None
        if args.bundle:
            install = bootstrap.install_missing(
                osp.abspath(args.bundle), osp.join(work_dir, 'site'), log)
            log('bundle: ' + bootstrap.summary(install))
    try:
        from ssformer_mmseg.gpu_proof import (STEP_NAMES, ProofSettings,
                                              run_proof)
    except ImportError as error:
        missing = ', '.join((install or {}).get('missing_modules', {})) or \
            'none named'
        with open(log_path, 'a') as log_file:
            log_file.write(f'cannot import ssformer_mmseg: {error}\n')
        with open(osp.join(results, 'gpu_proof.md'), 'w') as report:
            report.write(f'# GPU proof\n\nNo step could run: importing '
                         f'ssformer_mmseg failed ({error}). Expected modules '
                         f'missing: {missing}. What the machine has: '
                         'gpu_proof.log.\n')
        print(
            f'error: cannot import ssformer_mmseg ({error}); see '
            f'{log_path} for what the bundle installed and what is '
            'missing',
            file=sys.stderr)
        return 1
    data_root = bootstrap.data_root(
        osp.abspath(args.bundle) if args.bundle else None)
    if args.dry_run:
        settings = ProofSettings.dry(results, work_dir, data_root=data_root)
    else:
        import torch
        if not torch.cuda.is_available():
            print(
                f'error: torch {torch.__version__} sees no GPU; '
                '--dry-run runs the proof on the CPU',
                file=sys.stderr)
            return 2
        settings = ProofSettings(results, work_dir, data_root=data_root)
    unknown = sorted(set(args.steps or []) - set(STEP_NAMES))
    if unknown:
        print(
            f'error: unknown steps {", ".join(unknown)}; the steps: '
            f'{", ".join(STEP_NAMES)}',
            file=sys.stderr)
        return 2
    settings.steps = list(args.steps or STEP_NAMES)
    settings.time_limit = limit - (time.time() - start)
    statuses = run_proof(settings, machine, install)
    failed = [
        step for step, status in statuses.items()
        if status['status'] == 'failed'
    ]
    print(f'report: {osp.join(results, "gpu_proof.md")}' +
          (f'; failed: {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
