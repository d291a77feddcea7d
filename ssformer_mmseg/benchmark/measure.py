"""Timing and memory measurement for the benchmark: interleaved rounds,
per-round ratios, peak memory of one call."""
import ctypes
import os
import statistics
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import torch

from ..messages import quiet


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
    _return_freed_memory()
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


def resident_growth_mb(function: Callable) -> Tuple[Any, float]:
    """What ``function`` returns, and how much of the process's resident
    memory it left allocated (freed heap memory returned to the system
    before and after): weights, compiled models, engines' arenas."""
    _return_freed_memory()
    start = _rss_bytes()
    result = function()
    _return_freed_memory()
    return result, max(_rss_bytes() - start, 0) / 2**20


def _return_freed_memory() -> None:
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:  # not glibc: the figures are only less tight
        pass


def _rss_bytes() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def interleaved_times(calls: Dict[str, Callable],
                      device: str,
                      warmup: int,
                      rounds: int,
                      progress: Callable[[str], None] = quiet,
                      every_s: float = 10.0) -> Dict[str, List[float]]:
    """Seconds per call of each function, measured round-robin.

    ``progress`` hears where the timing is at most every ``every_s``
    seconds (and at the last round), so a long measurement is not silent.
    """
    started = time.perf_counter()
    for function in calls.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in calls}
    said = time.perf_counter()
    for done in range(1, rounds + 1):
        for name, function in calls.items():
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
        now = time.perf_counter()
        if now - said >= every_s or done == rounds:
            progress(f'  round {done}/{rounds} of {len(calls)} timed calls '
                     f'({now - started:.0f} s)')
            said = now
    return times


def summarize(times: Dict[str, List[float]], batch: int) -> Dict[str, dict]:
    """img/s, p50 / p90 ms and the median per-round ratio to the first."""
    baseline = next(iter(times.values()))
    rows = {}
    for name, values in times.items():
        ordered = sorted(values)
        rows[name] = dict(
            img_per_s=batch / statistics.median(values),
            speedup=statistics.median(b / v for b, v in zip(baseline, values)),
            p50_ms=statistics.median(values) * 1e3,
            p90_ms=ordered[min(
                len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))] * 1e3)
    return rows
