"""The *Live* tab: the browser's camera (a capture card is a camera to the
browser) streamed to the model, the overlay coming back with the frame
rate and latency, live.

The newest-frame rule of the live tool holds here too: while a frame is
being segmented the browser sends none (a stream event's default
``trigger_mode='once'``), and the next one it sends is the camera's
current frame, so the overlay never lags behind a queue. The latency shown
is the server's: from a frame's arrival to its overlay (the browser's
capture and transfer are outside it).
"""
import time
from collections import deque
from typing import Optional

import numpy as np

from ..visualization.overlays import draw_overlay
from . import serving
from .page import gradio, page_errors

gr = gradio()

#: Widget ids the tests and the browser check look for.
CAMERA_ID = 'live-camera'
LIVE_OVERLAY_ID = 'live-overlay'
LIVE_STATS_ID = 'live-stats'
#: How often the browser sends a frame (none while one is segmented).
STREAM_EVERY_S = 0.04
#: Frames the shown rate and latency are computed over.
WINDOW = 50


class LiveStats:
    """A session's counters: frames done, and the arrival times and
    latencies of the last :data:`WINDOW` frames."""

    def __init__(self):
        self.frames = 0
        self.arrivals = deque(maxlen=WINDOW)
        self.latencies_ms = deque(maxlen=WINDOW)

    def add(self, arrived: float, latency_ms: float) -> None:
        self.frames += 1
        self.arrivals.append(arrived)
        self.latencies_ms.append(latency_ms)

    def text(self, polyp_percent: float) -> str:
        """The line under the overlay."""
        span = self.arrivals[-1] - self.arrivals[0]
        rate = (len(self.arrivals) - 1) / span if span > 0 else 0.0
        latency = np.percentile(self.latencies_ms, [50, 95])
        return (f'**frame {self.frames}** · {rate:.1f} frames/s · latency '
                f'p50 {latency[0]:.0f} ms, p95 {latency[1]:.0f} ms · polyp '
                f'{polyp_percent:.1f} %')


class LiveTab:
    """The *Live* tab's handler and widgets.

    Args:
        segmenter (serving.SharedSegmenter): The model, shared with the
            other tabs (one call at a time, in arrival order).
        time_limit_s (float): How long one stream may run before the page
            must be restarted (it holds a share of the model).
    """

    def __init__(self, segmenter: serving.SharedSegmenter,
                 time_limit_s: float):
        self.segmenter = segmenter
        self.time_limit_s = time_limit_s

    def segment_frame(self, frame: Optional[np.ndarray],
                      stats: Optional[LiveStats]) -> tuple:
        """The overlay of one camera frame (RGB in, RGB out), the stats
        line, and the session's counters."""
        arrived = time.perf_counter()
        if frame is None:
            return None, '', stats
        bgr = np.ascontiguousarray(frame[..., ::-1])
        prob = self.segmenter([bgr])[0]
        mask = self.segmenter.mask(prob)
        overlay = draw_overlay(bgr, mask)[..., ::-1]
        stats = stats or LiveStats()
        stats.add(arrived, 1e3 * (time.perf_counter() - arrived))
        polyp = 100.0 * float(np.count_nonzero(mask)) / mask.size
        return overlay, stats.text(polyp), stats

    def build(self) -> None:
        """Make the tab's widgets (inside ``gr.Blocks``) and wire them."""
        stats = gr.State(None)
        with gr.Row():
            camera = gr.Image(
                sources=['webcam'],
                streaming=True,
                type='numpy',
                label='Camera (a capture card is a camera to the browser)',
                elem_id=CAMERA_ID)
            overlay = gr.Image(
                label='Overlay',
                interactive=False,
                format='jpeg',
                elem_id=LIVE_OVERLAY_ID)
        stats_line = gr.Markdown(elem_id=LIVE_STATS_ID)
        camera.stream(
            page_errors(self.segment_frame), [camera, stats],
            [overlay, stats_line, stats],
            stream_every=STREAM_EVERY_S,
            time_limit=self.time_limit_s,
            api_name='live_frame')
