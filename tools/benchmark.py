"""Measure inference and training speed of a segmentor, side by side.

For each requested precision (fp32 / bf16 / fp16 autocast) the model runs
``model(inputs, mode='tensor')`` at the given size and batch: throughput
(img/s), latency p50 / p90 and peak memory; optionally (``--train``) the
time of a training step (forward, loss, backward, AdamW step) with the same
settings. Every row is also given as a ratio to eager fp32, since absolute
times on a shared machine are noisy. FLOPs and parameters come from
mmengine's analysis tools. Results print as a table and go to a JSON file.

Examples:
    python tools/benchmark.py configs/ssformer_s_kvasir.py
    python tools/benchmark.py configs/ssformer_l_kvasir.py ckpt.pth \\
        --precision fp32 bf16 --channels-last --train --threads 2
    python tools/benchmark.py configs/ssformer_s_kvasir.py --device cuda \\
        --batch-size 16 --precision fp32 fp16 --compile
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import resource
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402

from ssformer_mmseg.config import load_config  # noqa: E402

DTYPES = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n', 2)[2],
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
                        choices=sorted(DTYPES))
    parser.add_argument('--channels-last', action='store_true',
                        help='also run every precision in channels_last')
    parser.add_argument('--compile', action='store_true',
                        help='also run every precision under torch.compile')
    parser.add_argument('--train', action='store_true',
                        help='also time training steps')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--json', default='work_dirs/benchmark.json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build(cfg, checkpoint, device: str) -> torch.nn.Module:
    cfg.model.backbone.init_cfg = None  # never download for a benchmark
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device)


def autocast(device: str, precision: str):
    if DTYPES[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(':')[0],
                          dtype=DTYPES[precision])


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def peak_memory_mb(device: str) -> float:
    """Peak CUDA memory allocated, or the process's peak RSS on CPU."""
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def time_calls(step: Callable, device: str, warmup: int,
               iters: int) -> List[float]:
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def variant(model, args, precision, channels_last, compiled):
    """Time inference (and training) of one configuration."""
    device = args.device
    inputs = torch.randn(args.batch_size, 3, *args.shape, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    model.eval()

    def infer():
        with torch.no_grad(), autocast(device, precision):
            forward(inputs, mode='tensor')

    times = np.array(time_calls(infer, device, args.warmup, args.iters))
    row = dict(
        precision=precision,
        channels_last=channels_last,
        compile=compiled,
        img_per_s=args.batch_size / times.mean(),
        p50_ms=float(np.percentile(times, 50) * 1e3),
        p90_ms=float(np.percentile(times, 90) * 1e3),
        peak_mb=peak_memory_mb(device))
    if args.train:
        row.update(train_step(model, forward, inputs, args, precision))
    model.to(memory_format=torch.contiguous_format)
    return row


def train_step(model, forward, inputs, args, precision) -> Dict[str, float]:
    """Mean time of forward + loss + backward + AdamW step."""
    device = args.device
    samples = []
    for _ in range(inputs.shape[0]):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, 2, (1, *args.shape), device=device))
        sample.set_metainfo(dict(img_shape=tuple(args.shape),
                                 pad_shape=tuple(args.shape)))
        samples.append(sample)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    # fp16 needs loss scaling; bf16 and fp32 do not.
    scaler = torch.amp.GradScaler(enabled=precision == 'fp16')

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            losses = forward(inputs, samples, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    times = time_calls(step, device, max(1, args.warmup // 2),
                       max(2, args.iters // 2))
    model.eval()
    return dict(train_img_per_s=inputs.shape[0] / float(np.mean(times)),
                train_step_ms=float(np.mean(times) * 1e3))


def complexity(model, shape) -> Dict[str, float]:
    from mmengine.analysis import get_model_complexity_info
    model.eval()
    info = get_model_complexity_info(
        model, inputs=(torch.randn(1, 3, *shape), ), show_table=False,
        show_arch=False)
    return dict(gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6)


def format_rows(rows: List[dict], train: bool) -> str:
    base = rows[0]
    header = (f'{"precision":>9} {"ch-last":>7} {"compile":>7} '
              f'{"img/s":>8} {"x eager":>7} {"p50 ms":>8} {"p90 ms":>8} '
              f'{"peak MB":>8}')
    if train:
        header += f' {"train img/s":>11} {"x eager":>7}'
    lines = [header]
    for row in rows:
        line = (f'{row["precision"]:>9} {str(row["channels_last"]):>7} '
                f'{str(row["compile"]):>7} {row["img_per_s"]:8.2f} '
                f'{row["img_per_s"] / base["img_per_s"]:7.2f} '
                f'{row["p50_ms"]:8.1f} {row["p90_ms"]:8.1f} '
                f'{row["peak_mb"]:8.0f}')
        if train:
            line += (f' {row["train_img_per_s"]:11.2f} '
                     f'{row["train_img_per_s"] / base["train_img_per_s"]:7.2f}')
        lines.append(line)
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    model = build(cfg, args.checkpoint, args.device)
    info = complexity(build(cfg, None, 'cpu'), args.shape)
    combos = [('fp32', False, False)]
    layouts = [False, True] if args.channels_last else [False]
    compiles = [False, True] if args.compile else [False]
    for precision in args.precision:
        for channels_last in layouts:
            for compiled in compiles:
                if (precision, channels_last, compiled) not in combos:
                    combos.append((precision, channels_last, compiled))
    rows = []
    for count, combo in enumerate(combos, 1):
        print(f'[{count}/{len(combos)}] precision={combo[0]} '
              f'channels_last={combo[1]} compile={combo[2]}', flush=True)
        rows.append(variant(model, args, *combo))
    environment = dict(
        config=args.config, device=args.device, shape=args.shape,
        batch_size=args.batch_size, threads=torch.get_num_threads(),
        torch=torch.__version__,
        device_name=torch.cuda.get_device_name() if args.device.startswith(
            'cuda') else (os.uname().machine + ' CPU'))
    print(f'\n{args.config}: {info["params_m"]:.1f} M parameters, '
          f'{info["gflops"]:.1f} GFLOPs (multiply-adds, as mmengine counts) '
          f'at {args.shape[0]}x{args.shape[1]}; '
          f'batch {args.batch_size}, {environment["threads"]} threads, '
          f'{environment["device_name"]}')
    print(format_rows(rows, args.train))
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(dict(environment=environment, complexity=info,
                       results=rows), f, indent=2)
    print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
