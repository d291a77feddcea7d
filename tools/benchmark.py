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
import copy
import ctypes
import json
import os
import os.path as osp
import statistics
import sys
import threading
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import DictAction  # noqa: E402
from mmengine.optim import OptimWrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from ssformer_mmseg.apis import fused_ops  # noqa: E402
from ssformer_mmseg.apis import optimize_for_inference  # noqa: E402
from ssformer_mmseg.apis.optimize import PRECISIONS  # noqa: E402
from ssformer_mmseg.config import load_config  # noqa: E402
from ssformer_mmseg.engine import (AutocastOptimWrapper,  # noqa: E402
                                   ChannelsLastHook)


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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build(cfg, checkpoint: Optional[str], device: str) -> torch.nn.Module:
    cfg.model.backbone.init_cfg = None  # never download for a benchmark
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device)


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def peak_memory_mb(function: Callable, device: str) -> float:
    """Extra memory one call of ``function`` needs at its peak.

    CUDA: peak allocated minus allocated before. CPU: the process's resident
    memory is sampled every millisecond during the call (after returning
    freed heap memory to the system); the peak minus the starting value.
    """
    if device.startswith('cuda'):
        synchronize(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        function()
        synchronize(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:  # not glibc: the figure is only less tight
        pass
    start = _rss_bytes()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    function()
    done.set()
    sampler.join()
    return max(peak[0] - start, 0) / 2**20


def _rss_bytes() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def interleaved_times(calls: Dict[str, Callable], device: str, warmup: int,
                      rounds: int) -> Dict[str, List[float]]:
    """Seconds per call of each function, measured round-robin."""
    for function in calls.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, function in calls.items():
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def summarize(times: Dict[str, List[float]], batch: int) -> Dict[str, dict]:
    """img/s, p50 / p90 ms and the median per-round ratio to the first."""
    baseline = next(iter(times.values()))
    rows = {}
    for name, values in times.items():
        ordered = sorted(values)
        rows[name] = dict(
            img_per_s=batch / statistics.median(values),
            speedup=statistics.median(
                b / v for b, v in zip(baseline, values)),
            p50_ms=statistics.median(values) * 1e3,
            p90_ms=ordered[min(len(ordered) - 1,
                               int(round(0.9 * (len(ordered) - 1))))] * 1e3)
    return rows


def benchmark_inference(model, args) -> List[dict]:
    device = args.device
    inputs = torch.randn(args.batch_size, 3, *args.shape, device=device)
    model.eval()
    plain_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    inputs_cl = inputs.contiguous(memory_format=torch.channels_last)
    variants = {
        'eager fp32': (model, inputs, dict(precision='fp32', fast=False,
                                           channels_last=False,
                                           compile=False)),
        'eager fp32 channels_last': (plain_cl, inputs_cl, dict(
            precision='fp32', fast=False, channels_last=True,
            compile=False)),
    }
    for precision in args.precision:
        for compiled in [False, True] if args.compile else [False]:
            name = f'fast {precision}' + (' compile' if compiled else '')
            print(f'preparing {name}', flush=True)
            fast = optimize_for_inference(model, precision, compile=compiled)
            variants[name] = (fast, inputs, dict(
                precision=precision, fast=True, channels_last=True,
                compile=compiled))

    def call(net, x):
        return lambda: net(x, mode='tensor')

    with torch.no_grad():
        reference = model(inputs, mode='tensor').float()
        calls = {name: call(net, x) for name, (net, x, _) in variants.items()}
        start = time.perf_counter()
        for name, function in calls.items():  # compiles happen here
            function()
        print(f'first calls took {time.perf_counter() - start:.1f} s; '
              f'timing {len(calls)} variants x {args.rounds} rounds',
              flush=True)
        rows = summarize(
            interleaved_times(calls, device, args.warmup, args.rounds),
            args.batch_size)
        results = []
        for name, (net, x, options) in variants.items():
            difference = (net(x, mode='tensor').float() -
                          reference).abs().max().item()
            results.append(dict(
                name=name, **options, **rows[name],
                max_abs_diff=difference,
                peak_mb=peak_memory_mb(calls[name], device)))
    return results


def training_samples(batch: int, shape, device: str) -> list:
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 2, (1, *shape), device=device))
        sample.set_metainfo(dict(img_shape=tuple(shape),
                                 pad_shape=tuple(shape)))
        samples.append(sample)
    return samples


def training_recipe(model, device: str, channels_last: bool, amp: bool,
                    fused: bool):
    """A copy of ``model`` and its optimizer wrapper for one recipe."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4,
                                  fused=True if fused else None)
    if not amp:
        wrapper = OptimWrapper(optimizer=optimizer)
    elif device.startswith('cuda'):
        from mmengine.optim import AmpOptimWrapper
        wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale='dynamic')
    else:
        wrapper = AutocastOptimWrapper(optimizer=optimizer)
    if channels_last:
        ChannelsLastHook().before_train(SimpleNamespace(model=model))
    return model, wrapper


def train_step(model, wrapper, inputs, samples) -> float:
    with wrapper.optim_context(model):
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
    wrapper.update_params(loss)
    return loss.item()


def benchmark_training(model, args) -> dict:
    device = args.device
    batch = args.train_batch_size or max(2, args.batch_size)
    amp = 'AMP fp16' if device.startswith('cuda') else 'AMP bf16'
    # Without native bf16 the CPU emulates it (many times slower than fp32):
    # AMP is still measured, but the fast recipe is fp32 there.
    fast_amp = not fused_ops.bf16_emulated(torch.device(device).type)
    fast = f'fast (channels_last + {amp} + fused AdamW)' if fast_amp else \
        'fast (channels_last + fused AdamW; no AMP: bf16 emulated)'
    recipes = {
        'eager fp32': (False, False, False),
        'channels_last': (True, False, False),
        amp: (False, True, False),
        'fused AdamW': (False, False, True),
        fast: (True, fast_amp, True),
    }
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch, 3, *args.shape,
                         generator=generator).to(device)
    samples = training_samples(batch, args.shape, device)
    built = {name: training_recipe(model, device, *options)
             for name, options in recipes.items()}
    calls = {name: (lambda m, w: lambda: train_step(m, w, inputs, samples))(
        *built[name]) for name in recipes}
    rows = summarize(
        interleaved_times(calls, device, 1, max(3, args.rounds // 2)), batch)
    results = [dict(name=name, batch_size=batch, **rows[name])
               for name in recipes]

    # The same short run, plain and fast, from the same weights.
    curves = {}
    for name in ('eager fp32', list(recipes)[-1]):
        net, wrapper = training_recipe(model, device, *recipes[name])
        generator = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(args.loss_steps):
            batch_inputs = torch.randn(batch, 3, *args.shape,
                                       generator=generator).to(device)
            losses.append(train_step(net, wrapper, batch_inputs, samples))
        curves[name] = losses
    return dict(steps=results, loss_curves=curves)


def benchmark_data(cfg, args) -> List[dict]:
    from mmengine.runner import Runner
    results = []
    for workers in args.workers:
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg.update(num_workers=workers,
                          persistent_workers=workers > 0)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        iterator = iter(loader)
        next(iterator)  # worker start-up is not throughput
        start = time.perf_counter()
        samples = 0
        for _ in range(args.data_batches):
            samples += len(next(iterator)['inputs'])
        seconds = time.perf_counter() - start
        results.append(dict(workers=workers, samples_per_s=samples / seconds,
                            batch_size=loader_cfg.batch_size))
        print(f'  {workers} workers: {samples / seconds:.1f} samples/s',
              flush=True)
        del iterator, loader
    return results


def complexity(model, shape) -> Dict[str, float]:
    from mmengine.analysis import get_model_complexity_info
    model.eval()
    info = get_model_complexity_info(
        model, inputs=(torch.randn(1, 3, *shape), ), show_table=False,
        show_arch=False)
    return dict(gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6)


def format_inference(rows: List[dict]) -> str:
    lines = [f'{"inference":<28} {"img/s":>8} {"x eager":>7} {"p50 ms":>8} '
             f'{"p90 ms":>8} {"peak MB":>8} {"max |dlogit|":>12}']
    for row in rows:
        lines.append(
            f'{row["name"]:<28} {row["img_per_s"]:8.2f} '
            f'{row["speedup"]:7.2f} {row["p50_ms"]:8.1f} '
            f'{row["p90_ms"]:8.1f} {row["peak_mb"]:8.0f} '
            f'{row["max_abs_diff"]:12.2e}')
    return '\n'.join(lines)


def format_training(report: dict) -> str:
    lines = [f'{"training step":<58} {"img/s":>8} {"x eager":>7} '
             f'{"p50 ms":>8}']
    for row in report['steps']:
        lines.append(f'{row["name"]:<58} {row["img_per_s"]:8.2f} '
                     f'{row["speedup"]:7.2f} {row["p50_ms"]:8.1f}')
    (plain, plain_losses), (fast, fast_losses) = report[
        'loss_curves'].items()
    lines.append(f'losses, same weights and batches: step  {plain:>10}  '
                 f'{"fast":>10}')
    for step, (a, b) in enumerate(zip(plain_losses, fast_losses), 1):
        lines.append(f'{"":34}{step:5d}  {a:10.4f}  {b:10.4f}')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    model = build(cfg, args.checkpoint, args.device)
    info = complexity(build(copy.deepcopy(cfg), None, 'cpu'), args.shape)
    environment = dict(
        config=args.config, device=args.device, shape=args.shape,
        batch_size=args.batch_size, threads=torch.get_num_threads(),
        torch=torch.__version__,
        device_name=torch.cuda.get_device_name() if args.device.startswith(
            'cuda') else _cpu_name() + _cpu_features())
    print(f'{args.config}: {info["params_m"]:.1f} M parameters, '
          f'{info["gflops"]:.1f} GFLOPs (multiply-adds, as mmengine counts) '
          f'at {args.shape[0]}x{args.shape[1]}; batch {args.batch_size}, '
          f'{environment["threads"]} threads, {environment["device_name"]}',
          flush=True)
    report = dict(environment=environment, complexity=info)
    report['inference'] = benchmark_inference(model, args)
    print(format_inference(report['inference']), flush=True)
    if args.train:
        report['training'] = benchmark_training(model, args)
        print(format_training(report['training']), flush=True)
    if args.data:
        print('training data pipeline (full augmentation):', flush=True)
        report['data'] = benchmark_data(cfg, args)
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {args.json}')


def _cpu_features() -> str:
    """The vector ISA PyTorch uses and whether bf16 is native: the two
    facts that decide how fast fp32 and bf16 can be on a CPU."""
    native = 'native bf16' if fused_ops.onednn_bf16_supported() else \
        'no native bf16: bf16 is emulated'
    return f' ({torch.backends.cpu.get_cpu_capability()}, {native})'


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return os.uname().machine + ' CPU'


if __name__ == '__main__':
    main()
