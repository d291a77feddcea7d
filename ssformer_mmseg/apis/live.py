"""The live loop: the newest frame of a :class:`~.live_source.LiveSource`
through a segmenter, one at a time, each overlay handed to the outputs
(:mod:`.live_outputs`: the MJPEG stream, a window, a recording, the
per-frame CSV) with its timing.

The loop never queues: it asks the source for the newest frame, so a
frame that arrived while the model was busy on the previous one is
dropped and counted. The latency of a frame is from its arrival to its
overlay, so it stays flat however slow the model is; only the drop rate
rises.
"""
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..visualization.overlays import draw_overlay
from .live_source import LiveSource
from .segmenter import PolypSegmenter


@dataclass
class LiveFrame:
    """What happened to one processed frame.

    Attributes:
        index (int): Its index in the source.
        arrived_s (float): When it arrived, seconds from the run's start.
        model_ms (float): The segmenter's time on it (pre- and
            post-processing included).
        latency_ms (float): From its arrival to its overlay.
        dropped (int): Frames dropped so far (arrived while the model was
            busy, never processed).
        polyp_percent (float): Share of the frame the mask covers.
    """
    index: int
    arrived_s: float
    model_ms: float
    latency_ms: float
    dropped: int
    polyp_percent: float


#: The per-frame CSV's columns.
LIVE_FRAME_FIELDS = tuple(f.name for f in fields(LiveFrame))

#: An output: called with each processed frame's record and its overlay.
FrameOutput = Callable[[LiveFrame, np.ndarray], None]


def _percentiles(values: Sequence[float]) -> Dict[str, float]:
    if not values:
        return dict(p50=float('nan'), p95=float('nan'), max=float('nan'))
    return dict(
        p50=float(np.percentile(values, 50)),
        p95=float(np.percentile(values, 95)),
        max=float(np.max(values)))


@dataclass
class LiveSummary:
    """A live run in numbers.

    Attributes:
        source (str): What was read.
        backend (str): The segmenter's backend and precision.
        frames_in (int): Frames the source delivered.
        processed (int): Frames segmented.
        dropped (int): Frames delivered but not segmented.
        seconds (float): The run's length.
        fps (float): Processed frames per second.
        source_fps (float): The source's frame rate.
        latency_ms (dict): p50, p95 and max of arrival-to-overlay latency.
        model_ms (dict): p50, p95 and max of the segmenter's time.
        latency_p50_by_quarter_ms (list): The latency p50 of each quarter
            of the processed frames, in order: flat when nothing queues.
        end_reason (str): Why the run ended.
    """
    source: str
    backend: str
    frames_in: int
    processed: int
    dropped: int
    seconds: float
    fps: float
    source_fps: float
    latency_ms: Dict[str, float]
    model_ms: Dict[str, float]
    latency_p50_by_quarter_ms: List[float]
    end_reason: str
    outputs: List[str] = field(default_factory=list)

    @property
    def drop_rate(self) -> float:
        """Dropped frames over delivered frames."""
        return self.dropped / self.frames_in if self.frames_in else 0.0

    def as_dict(self) -> dict:
        return dict(asdict(self), drop_rate=self.drop_rate)

    def text(self) -> str:
        """The summary the live tool prints."""
        lat, model = self.latency_ms, self.model_ms
        return (f'{self.source} on {self.backend}: {self.frames_in} frames in '
                f'({self.source_fps:.1f}/s), {self.processed} processed '
                f'({self.fps:.2f}/s), {self.dropped} dropped '
                f'({100 * self.drop_rate:.1f}%) in {self.seconds:.1f} s\n'
                f'latency (arrival to overlay) p50 {lat["p50"]:.1f} ms, p95 '
                f'{lat["p95"]:.1f} ms, max {lat["max"]:.1f} ms; model p50 '
                f'{model["p50"]:.1f} ms; latency p50 by quarter of the run: ' +
                ', '.join(f'{v:.1f}' for v in self.latency_p50_by_quarter_ms) +
                f' ms\nended: {self.end_reason}')


def run_live(segmenter: PolypSegmenter,
             source: LiveSource,
             outputs: Sequence[FrameOutput] = (),
             max_frames: Optional[int] = None,
             max_seconds: Optional[float] = None,
             stop: Optional[threading.Event] = None) -> LiveSummary:
    """Segment the newest frame of ``source`` until it ends (or a limit, or
    ``stop`` is set), handing each overlay to ``outputs`` in order.

    Args:
        segmenter (PolypSegmenter): Any backend, a deployed folder's too.
        source (LiveSource): The frames.
        outputs (Sequence[Callable]): Called with each frame's
            :class:`LiveFrame` and overlay (BGR, the frame's size).
        max_frames (int, optional): Stop after this many processed frames.
        max_seconds (float, optional): Stop after this long.
        stop (threading.Event, optional): Set from elsewhere to stop.

    Returns:
        LiveSummary: The run in numbers.
    """
    stop = stop or threading.Event()
    start = time.perf_counter()
    records: List[LiveFrame] = []
    last = -1
    end_reason = None
    while end_reason is None:
        if stop.is_set():
            end_reason = 'stopped'
        elif max_frames is not None and len(records) >= max_frames:
            end_reason = f'{max_frames} frames processed'
        elif max_seconds is not None and \
                time.perf_counter() - start >= max_seconds:
            end_reason = f'{max_seconds:g} s passed'
        if end_reason is not None:
            break
        # A short wait, so that stop and the limits are seen while a
        # source is silent.
        captured = source.newest(after=last, timeout=0.2)
        if captured is None:
            if source.ended:
                end_reason = source.end_reason
            continue
        began = time.perf_counter()
        prob = segmenter([captured.image])[0]
        model_s = time.perf_counter() - began
        mask = segmenter.mask(prob)
        overlay = draw_overlay(captured.image, mask)
        record = LiveFrame(
            index=captured.index,
            arrived_s=captured.captured_at - start,
            model_ms=1e3 * model_s,
            latency_ms=1e3 * (time.perf_counter() - captured.captured_at),
            dropped=captured.index - len(records),
            polyp_percent=100.0 * float(np.count_nonzero(mask)) / mask.size)
        for output in outputs:
            output(record, overlay)
        records.append(record)
        last = captured.index
    seconds = time.perf_counter() - start
    frames_in = source.frames_in
    return LiveSummary(
        source=source.source,
        backend=f'{segmenter.backend} {segmenter.precision}',
        frames_in=frames_in,
        processed=len(records),
        dropped=frames_in - len(records),
        seconds=seconds,
        fps=len(records) / seconds if seconds > 0 else 0.0,
        source_fps=source.fps,
        latency_ms=_percentiles([r.latency_ms for r in records]),
        model_ms=_percentiles([r.model_ms for r in records]),
        latency_p50_by_quarter_ms=[
            float(np.median(part)) for part in np.array_split(
                np.array([r.latency_ms for r in records]), 4) if len(part)
        ],
        end_reason=end_reason)
