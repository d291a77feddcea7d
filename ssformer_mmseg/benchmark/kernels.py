"""What each hand-written kernel of the PyTorch fast path earns.

The fast path at each precision is timed whole and with one kernel at a
time replaced by the plain PyTorch calls it stands for (same weights, same
inputs, interleaved rounds): Winograd F(4x4, 3x3) for the dense 3x3
convolutions (fp32 only: the other precisions never use it), the fused
oneDNN convolutions (depthwise + GELU, fuse + add + ReLU) and the fused
projection + residual. A kernel *earns* the median per-round ratio of the
time without it to the time with it, minus one; the fast path keeps a
kernel while it earns at least :data:`KEEP_THRESHOLD` in some measured
model and precision (``docs/deployment.md`` has the figures).
"""
import statistics
from typing import Callable, Dict, List, Optional
from unittest import mock

import torch

from ..ops import fused_ops
from ..optimize import fast_inference, optimize_for_inference
from .measure import interleaved_times
from .options import BenchmarkOptions

#: Smallest gain (fraction of the fast path's time) that keeps a kernel.
KEEP_THRESHOLD = 0.05

#: Kernel -> precisions the fast path uses it at.
KERNELS = {
    'winograd': ('fp32', ),
    'fused conv': ('fp32', 'bf16'),
    'fused linear': ('bf16', ),
}
#: The fusions are looked up on every call, so their replacements wrap the
#: calls; Winograd is chosen when the model is optimized.
_PLAIN_CALLS = {
    'fused conv': ('conv2d', fused_ops.plain_conv2d),
    'fused linear': ('linear', fused_ops.plain_linear),
}


def _call(net: torch.nn.Module,
          inputs: torch.Tensor,
          kernel: Optional[str] = None) -> Callable:
    """``net`` on ``inputs``, with ``kernel``'s fusion replaced."""

    def run():
        if kernel is None:
            return net(inputs, mode='tensor')
        with mock.patch.object(fused_ops, *_PLAIN_CALLS[kernel]):
            return net(inputs, mode='tensor')

    return run


def _without_winograd(model: torch.nn.Module,
                      precision: str) -> torch.nn.Module:
    with mock.patch.object(fast_inference, 'use_winograd', lambda net: 0):
        return optimize_for_inference(model, precision)


def benchmark_kernels(model: torch.nn.Module,
                      options: BenchmarkOptions) -> List[dict]:
    """One row per (precision, kernel): p50 ms with and without it, the
    gain, the largest logit change, and whether it keeps its place."""
    inputs = torch.randn(
        options.batch_size, 3, *options.shape, device=options.device)
    rows = []
    with torch.no_grad():
        for precision in options.precision:
            kernels = [k for k, used in KERNELS.items() if precision in used]
            if not kernels:
                continue
            options.log(f'kernels at {precision}: timing the fast path '
                        f'without each of {", ".join(kernels)}')
            fast = optimize_for_inference(model, precision)
            calls: Dict[str, Callable] = {None: _call(fast, inputs)}
            for kernel in kernels:
                calls[kernel] = (
                    _call(_without_winograd(model, precision), inputs)
                    if kernel == 'winograd' else _call(fast, inputs, kernel))
            reference = calls[None]().float()
            times = interleaved_times(calls, options.device, options.warmup,
                                      options.rounds, options.log)
            for kernel in kernels:
                gain = statistics.median(
                    without / with_all - 1
                    for without, with_all in zip(times[kernel], times[None]))
                rows.append(
                    dict(
                        precision=precision,
                        kernel=kernel,
                        with_ms=1e3 * statistics.median(times[None]),
                        without_ms=1e3 * statistics.median(times[kernel]),
                        gain=gain,
                        max_abs_diff=(calls[kernel]().float() -
                                      reference).abs().max().item(),
                        keeps=gain >= KEEP_THRESHOLD))
    return rows
