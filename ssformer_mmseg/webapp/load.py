"""Measuring the served page: several clients at once (latency percentiles,
every answer checked), and the peak memory of a request.

Used by the load test of the suite and by
``tools/experiments/webapp_load.py``, which prints the figures of
docs/webapp.md. Needs ``gradio_client`` (installed with Gradio).
"""
import os
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np


def rss_bytes() -> int:
    """This process's resident memory now (Linux; 0 elsewhere)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class PeakMemory:
    """Resident memory sampled while a block runs (see :func:`peak_rss`).

    Attributes:
        before (int): Bytes at the start.
        peak (int): Highest sample, in bytes.
    """
    before: int = 0
    peak: int = 0

    @property
    def added(self) -> int:
        """Peak above the start, in bytes."""
        return max(self.peak - self.before, 0)


@contextmanager
def peak_rss(interval: float = 0.02) -> Iterator[PeakMemory]:
    """Sample this process's resident memory every ``interval`` seconds
    while the block runs."""
    memory = PeakMemory(rss_bytes(), rss_bytes())
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            memory.peak = max(memory.peak, rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield memory
    finally:
        done.set()
        sampler.join()
        memory.peak = max(memory.peak, rss_bytes())


@dataclass
class LoadReport:
    """What :func:`run_load` measured.

    Attributes:
        seconds (dict): Request kind (``'frame'``, ``'clip'``) -> the
            latency of each request, in seconds.
        errors (list): One line per wrong or failed answer.
        wall (float): Seconds for the whole load.
    """
    seconds: Dict[str, List[float]] = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)
    wall: float = 0.0

    def percentiles(self) -> Dict[str, Dict[str, float]]:
        """Per kind: count, p50, p95 and max latency in seconds."""
        return {
            kind: dict(
                count=len(times),
                p50=float(np.percentile(times, 50)),
                p95=float(np.percentile(times, 95)),
                max=float(np.max(times)))
            for kind, times in self.seconds.items() if times
        }

    def table(self) -> str:
        """The percentiles as a Markdown table."""
        rows = [
            '| request | count | p50 s | p95 s | max s |',
            '| --- | --- | --- | --- | --- |'
        ]
        for kind, p in self.percentiles().items():
            rows.append(f'| {kind} | {p["count"]} | {p["p50"]:.2f} | '
                        f'{p["p95"]:.2f} | {p["max"]:.2f} |')
        return '\n'.join(rows)


def run_load(url: str,
             frames: Sequence[str],
             clip: Optional[str],
             clients: int = 4,
             requests: int = 20,
             clip_every: int = 5,
             clip_frames: int = 0,
             download_dir: Optional[str] = None,
             auth: Optional[tuple] = None) -> LoadReport:
    """``clients`` clients at once, each sending ``requests`` requests to
    the page at ``url``: one frame of ``frames`` in turn, and every
    ``clip_every``-th request the ``clip`` instead. Each answer is checked:
    a frame's masks zip holds its one mask, a clip's holds ``clip_frames``
    masks beside its overlay video.
    """
    import gradio_client
    report = LoadReport(seconds={'frame': [], 'clip': []})
    lock = threading.Lock()

    def client_run(index: int) -> None:
        client = gradio_client.Client(
            url,
            verbose=False,
            auth=auth,
            download_files=os.path.join(download_dir or '.', f'client{index}'))
        for number in range(requests):
            is_clip = (
                clip is not None and number % clip_every == clip_every - 1)
            kind = 'clip' if is_clip else 'frame'
            start = time.perf_counter()
            try:
                answer = client.predict(
                    None if is_clip else
                    [gradio_client.handle_file(frames[number % len(frames)])],
                    gradio_client.handle_file(clip) if is_clip else None,
                    0.5,
                    api_name='/segment')
                problem = _check_answer(answer, clip_frames if is_clip else 1,
                                        is_clip)
            except Exception as error:  # a failed request is a finding
                problem = f'{type(error).__name__}: {error}'
            seconds = time.perf_counter() - start
            with lock:
                report.seconds[kind].append(seconds)
                if problem:
                    report.errors.append(f'client {index} request {number} '
                                         f'({kind}): {problem}')

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_run, range(clients)))
    report.wall = time.perf_counter() - start
    return report


def _check_answer(answer: tuple, masks: int, is_clip: bool) -> Optional[str]:
    files = answer[-1]
    names = sorted(os.path.basename(f) for f in files)
    expected = ['masks.zip', 'overlay.mp4'] if is_clip else ['masks.zip']
    if names != expected:
        return f'downloads {names}, expected {expected}'
    with zipfile.ZipFile(next(f for f in files
                              if f.endswith('masks.zip'))) as archive:
        if len(archive.namelist()) != masks:
            return (f'{len(archive.namelist())} masks in the zip, expected '
                    f'{masks}')
    return None
