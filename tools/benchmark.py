"""Measure the plain and the fast paths of a segmentor, side by side.

What is measured, and how: ``ssformer_mmseg.benchmark`` (printed below the
options by ``--help``); results print as tables and go to a JSON file.

Examples:
    python tools/benchmark.py configs/ssformer_s_kvasir.py --threads 2 \\
        --precision fp32 bf16 --compile --train
    python tools/benchmark.py configs/ssformer_s_kvasir.py --data \\
        --workers 0 1 2 --cfg-options data_root=/data/polyp
    python tools/benchmark.py configs/ssformer_l_kvasir.py ckpt.pth \\
        --device cuda --batch-size 16 --precision fp32 fp16 --train
    python tools/benchmark.py configs/ssformer_s_kvasir.py --engines \\
        --threads 2 --cfg-options data_root=/data/polyp
    python tools/benchmark.py configs/ssformer_s_kvasir.py ckpt.pth \\
        --target-fps 25 --threads 2 --cfg-options data_root=/data/polyp
    python tools/benchmark.py configs/ssformer_l_kvasir.py --kernels \\
        --threads 2 --precision fp32 bf16 --rounds 20
"""
import argparse
import functools
import json
import os
import os.path as osp

import torch

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg import benchmark
from ssformer_mmseg.benchmark import BenchmarkOptions, run_benchmark
from ssformer_mmseg.cli import add_cfg_options_argument, add_config_argument
from ssformer_mmseg.config import load_config
from ssformer_mmseg.optimize import PRECISIONS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=benchmark.__doc__.split('\n\n', 1)[1].split('\nModules:')[0] +
        '\n' + __doc__.split('\n\n', 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='weights (optional: speed does not depend on '
        'them)')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[352, 352], metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--precision',
        nargs='+',
        default=['fp32'],
        choices=sorted(PRECISIONS),
        help='precisions of the fast path (default: fp32)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also run each precision under torch.compile')
    parser.add_argument(
        '--train', action='store_true', help='also time training steps')
    parser.add_argument(
        '--train-batch-size',
        type=int,
        help='batch of the training steps (default: '
        '--batch-size, at least 2 for BatchNorm)')
    parser.add_argument(
        '--loss-steps',
        type=int,
        default=10,
        help='steps of the --train loss comparison')
    parser.add_argument(
        '--data',
        action='store_true',
        help='also measure the training data pipeline')
    parser.add_argument(
        '--workers',
        type=int,
        nargs='+',
        default=[0, 1, 2],
        help='loader worker counts for --data')
    parser.add_argument(
        '--data-batches',
        type=int,
        default=20,
        help='batches per worker count for --data')
    parser.add_argument(
        '--engines',
        action='store_true',
        help='compare PyTorch eager / fast path, ONNX Runtime and OpenVINO '
        'at each precision (instead of the plain-vs-fast table)')
    parser.add_argument(
        '--backends',
        nargs='+',
        metavar='BACKEND',
        help='--engines: time only these backends\' rows besides PyTorch\'s '
        '(default: every backend that runs a model file: ONNX Runtime, '
        'OpenVINO and installed plug-ins)')
    parser.add_argument(
        '--target-fps',
        type=float,
        metavar='N',
        help='which input size x engine x precision reaches N frames/s '
        'here (the whole segmenter, one frame at a time), and with a '
        'checkpoint its meanDic against fp32 at the trained size (instead '
        'of the plain-vs-fast table)')
    parser.add_argument(
        '--sizes',
        type=int,
        nargs='+',
        default=[352, 320, 288, 256],
        help='square input sides of --target-fps (multiples of 32; '
        'default: 352 320 288 256)')
    parser.add_argument(
        '--score-images',
        type=int,
        default=0,
        help='--target-fps with a checkpoint: test images each combination '
        'is scored on (every k-th; default 0: all)')
    parser.add_argument(
        '--kernels',
        action='store_true',
        help='time the fast path without each of its hand-written kernels '
        'at each --precision (instead of the plain-vs-fast table)')
    parser.add_argument(
        '--throughput-batch',
        type=int,
        default=4,
        help='frames of the --engines throughput calls (default: 4)')
    parser.add_argument(
        '--calib-count',
        type=int,
        default=100,
        help='int8 calibration frames of --engines (default: 100)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the --engines frame choice')
    parser.add_argument(
        '--prob-tolerance',
        type=float,
        default=0.05,
        help='largest max |probability difference| from eager fp32 the '
        '--engines recommendation accepts (default: 0.05)')
    parser.add_argument(
        '--warmup', type=int, default=2, help='untimed calls of each variant')
    parser.add_argument(
        '--rounds',
        type=int,
        default=10,
        help='timed rounds (each runs every variant once)')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch CPU threads (default: torch default)')
    parser.add_argument('--json', default='work_dirs/benchmark.json')
    add_cfg_options_argument(parser)
    args = parser.parse_args()
    if args.target_fps is not None:
        if args.target_fps <= 0:
            parser.error('--target-fps must be positive')
        from ssformer_mmseg.apis.pipeline import check_network_size
        for side in args.sizes:
            try:
                check_network_size((side, side))
            except ValueError as error:
                parser.error(f'--sizes: {error}')
    if args.backends is not None:
        if not (args.engines or args.target_fps):
            parser.error('--backends selects rows of --engines or '
                         '--target-fps')
        from ssformer_mmseg.benchmark.engines import selected_engines
        try:
            selected_engines(args.backends)
        except ValueError as error:
            parser.error(str(error))
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = BenchmarkOptions(
        shape=tuple(args.shape),
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        compile=args.compile,
        train=args.train,
        train_batch_size=args.train_batch_size or 0,
        loss_steps=args.loss_steps,
        data=args.data,
        workers=args.workers,
        data_batches=args.data_batches,
        engines=args.engines,
        kernels=args.kernels,
        backends=args.backends,
        target_fps=args.target_fps,
        sizes=args.sizes,
        score_images=args.score_images,
        throughput_batch=args.throughput_batch,
        calib_count=args.calib_count,
        seed=args.seed,
        prob_tolerance=args.prob_tolerance,
        warmup=args.warmup,
        rounds=args.rounds,
        log=functools.partial(print, flush=True))
    report = run_benchmark(
        load_config(args.config, args.cfg_options), args.checkpoint, options)
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
