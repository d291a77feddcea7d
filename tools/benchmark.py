"""Measure the plain and the fast paths of a segmentor, side by side.

Inference: ``model(inputs, mode='tensor')`` at the given size and batch for
the plain eager fp32 model (the baseline), the plain model in channels_last,
and :func:`~ssformer_mmseg.apis.optimize_for_inference` at each requested
precision (and under ``torch.compile`` with ``--compile``): throughput
(img/s), latency p50 / p90, peak memory and the largest logit difference
from the baseline. The variants run in interleaved rounds and the speed-up
is the median of per-round ratios, so a noisy shared machine slows all of
them alike.

Training (``--train``): forward, loss, backward and AdamW step of the plain
fp32 model against the fast recipe (channels_last + AMP, bf16 on CPU / fp16
on CUDA + fused AdamW) and each ingredient alone, plus the losses of a short
run of both from the same weights on the same batches.

Data (``--data``): training-pipeline samples/s of the config's training set
(full augmentation) with 0, 1, 2, ... loader workers.

FLOPs and parameters come from mmengine's analysis tools. Results print as
tables and go to a JSON file.

Examples:
    python tools/benchmark.py configs/ssformer_s_kvasir.py --threads 2 \\
        --precision fp32 bf16 --compile --train
    python tools/benchmark.py configs/ssformer_s_kvasir.py --data \\
        --workers 0 1 2 --cfg-options data_root=/data/polyp
    python tools/benchmark.py configs/ssformer_l_kvasir.py ckpt.pth \\
        --device cuda --batch-size 16 --precision fp32 fp16 --train
"""
import argparse
import functools
import json
import os
import os.path as osp

import torch

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.benchmark import BenchmarkOptions, run_benchmark
from ssformer_mmseg.cli import add_cfg_options_argument
from ssformer_mmseg.config import load_config
from ssformer_mmseg.optimize import PRECISIONS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?',
                        help='weights (optional: speed does not depend on '
                        'them)')
    parser.add_argument('--shape', type=int, nargs=2, default=[352, 352],
                        metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', nargs='+', default=['fp32'],
                        choices=sorted(PRECISIONS),
                        help='precisions of the fast path (default: fp32)')
    parser.add_argument('--compile', action='store_true',
                        help='also run each precision under torch.compile')
    parser.add_argument('--train', action='store_true',
                        help='also time training steps')
    parser.add_argument('--train-batch-size', type=int,
                        help='batch of the training steps (default: '
                        '--batch-size, at least 2 for BatchNorm)')
    parser.add_argument('--loss-steps', type=int, default=10,
                        help='steps of the --train loss comparison')
    parser.add_argument('--data', action='store_true',
                        help='also measure the training data pipeline')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2],
                        help='loader worker counts for --data')
    parser.add_argument('--data-batches', type=int, default=20,
                        help='batches per worker count for --data')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed calls of each variant')
    parser.add_argument('--rounds', type=int, default=10,
                        help='timed rounds (each runs every variant once)')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--json', default='work_dirs/benchmark.json')
    add_cfg_options_argument(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = BenchmarkOptions(
        shape=tuple(args.shape), batch_size=args.batch_size,
        device=args.device, precision=args.precision, compile=args.compile,
        train=args.train, train_batch_size=args.train_batch_size or 0,
        loss_steps=args.loss_steps, data=args.data, workers=args.workers,
        data_batches=args.data_batches, warmup=args.warmup,
        rounds=args.rounds, log=functools.partial(print, flush=True))
    report = run_benchmark(load_config(args.config, args.cfg_options),
                           args.checkpoint, options)
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
