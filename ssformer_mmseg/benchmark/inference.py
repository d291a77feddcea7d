"""Inference speed: the plain model against the fast path, side by side."""
import copy
import time
from typing import List

import torch

from ..optimize import optimize_for_inference
from .measure import interleaved_times, peak_memory_mb, summarize
from .options import BenchmarkOptions


def benchmark_inference(model: torch.nn.Module,
                        options: BenchmarkOptions) -> List[dict]:
    """Plain eager fp32 (the baseline), channels_last, and the fast path at
    each precision (and compiled): img/s, speed-up, latency, peak memory and
    max |logit difference| from the baseline, one dict per variant."""
    device = options.device
    inputs = torch.randn(options.batch_size, 3, *options.shape, device=device)
    model.eval()
    plain_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    inputs_cl = inputs.contiguous(memory_format=torch.channels_last)
    variants = {
        'eager fp32': (model, inputs,
                       dict(
                           precision='fp32',
                           fast=False,
                           channels_last=False,
                           compile=False)),
        'eager fp32 channels_last':
        (plain_cl, inputs_cl,
         dict(precision='fp32', fast=False, channels_last=True,
              compile=False)),
    }
    for precision in options.precision:
        for compiled in [False, True] if options.compile else [False]:
            name = f'fast {precision}' + (' compile' if compiled else '')
            options.log(f'preparing {name}')
            fast = optimize_for_inference(model, precision, compile=compiled)
            variants[name] = (fast, inputs,
                              dict(
                                  precision=precision,
                                  fast=True,
                                  channels_last=True,
                                  compile=compiled))

    def call(net, x):
        return lambda: net(x, mode='tensor')

    with torch.no_grad():
        reference = model(inputs, mode='tensor').float()
        calls = {name: call(net, x) for name, (net, x, _) in variants.items()}
        start = time.perf_counter()
        for name, function in calls.items():  # compiles happen here
            function()
        options.log(f'first calls took {time.perf_counter() - start:.1f} s; '
                    f'timing {len(calls)} variants x {options.rounds} rounds')
        rows = summarize(
            interleaved_times(calls, device, options.warmup, options.rounds,
                              options.log), options.batch_size)
        results = []
        for name, (net, x, settings) in variants.items():
            difference = (net(x, mode='tensor').float() -
                          reference).abs().max().item()
            results.append(
                dict(
                    name=name,
                    **settings,
                    **rows[name],
                    max_abs_diff=difference,
                    peak_mb=peak_memory_mb(calls[name], device)))
    return results
