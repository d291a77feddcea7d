"""The web app: a Gradio page with a *Segment* tab (upload frames or a
video, move the threshold, download masks and the overlay video), a *Live*
tab (the browser's camera through the model, with frame rate and latency)
and a *Review a run* tab (a test run's images sorted by Dice, each with its
frame, ground truth, prediction and error map, and the Dice-vs-threshold
curves).

One builder per tab (:mod:`.segment_tab`, :mod:`.live_tab`,
:mod:`.review_tab`) wires
:mod:`.segment`, :mod:`.review` and :mod:`.serving` to widgets; the
error policy is :mod:`.page`'s. The server around the page is
:mod:`.server`.
"""
import os.path as osp
from typing import Optional

from ..apis.segmenter import PolypSegmenter
from . import segment, serving
from .page import INTERNAL_ERROR, OVERLAY_ID, gradio

__all__ = [
    'build_app', 'DEFAULT_CONCURRENCY', 'DEFAULT_IDLE_SECONDS',
    'DEFAULT_LIVE_TIME_LIMIT_S', 'INTERNAL_ERROR', 'OVERLAY_ID'
]

#: Requests the page runs at once (each waits its turn at the model).
DEFAULT_CONCURRENCY = 4
#: A session's folder (its frames, maps and downloads) and Gradio's cached
#: files are removed after this long unused.
DEFAULT_IDLE_SECONDS = 30 * 60
#: How long one camera stream of the *Live* tab may run (it holds a share of
#: the model; the page restarts it).
DEFAULT_LIVE_TIME_LIMIT_S = 30 * 60


def build_app(segmenter: PolypSegmenter,
              work_dir: str,
              review_dir: Optional[str] = None,
              budget: segment.Budget = segment.Budget(),
              idle_seconds: float = DEFAULT_IDLE_SECONDS,
              live_time_limit_s: float = DEFAULT_LIVE_TIME_LIMIT_S):
    """The ``gr.Blocks`` page.

    Args:
        segmenter (PolypSegmenter): What segments the uploads (any backend;
            called one request at a time, in arrival order).
        work_dir (str): Where the session folders (frames, maps, downloads)
            are written.
        review_dir (str, optional): The folder the review tab may open
            runs under (a test run folder, or a folder of them), opened at
            start; without it the review tab opens nothing.
        budget (segment.Budget): What one request may ask.
        idle_seconds (float): A session's folder is removed after this long
            unused, or when its page is closed.
        live_time_limit_s (float): How long one camera stream of the
            *Live* tab may run.
    """
    gr = gradio()
    # Imported here: they import Gradio, which the package does not need.
    from .live_tab import LiveTab
    from .review_tab import ReviewTab
    from .segment_tab import SegmentTab
    segment_tab = SegmentTab(
        segmenter,
        serving.SessionFolders(osp.join(work_dir, 'sessions'), idle_seconds),
        budget, idle_seconds)
    live_tab = LiveTab(segment_tab.shared, live_time_limit_s)
    # The review's pictures, kept a few minutes (Gradio copies them).
    review_tab = ReviewTab(
        review_dir,
        serving.SessionFolders(
            osp.join(work_dir, 'review_views'), min(idle_seconds, 300)))
    # No telemetry or version check: the page serves medical frames
    # locally, and Gradio's reporting threads (not daemons) can hold up the
    # exit on Ctrl-C where the network is slow or absent.
    # Gradio's own copies of uploads and outputs are dropped after the
    # idle time too (checked every ten minutes at most).
    with gr.Blocks(
            title='SSFormer polyp segmentation',
            analytics_enabled=False,
            delete_cache=(min(600,
                              int(idle_seconds)), int(idle_seconds))) as app:
        gr.Markdown('# SSFormer polyp segmentation\n'
                    f'Model: **{segmenter.backend} {segmenter.precision}** '
                    f'on {segmenter.device}.')
        with gr.Tab('Segment'):
            segment_tab.build()
        with gr.Tab('Live'):
            live_tab.build()
        with gr.Tab('Review a run'):
            review_tab.build(app)
    return app
