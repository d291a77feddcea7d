"""A live run as the live tool asks for it: open the source, set up the
chosen outputs (per-frame CSV, recording, MJPEG stream, window), run the
loop (:func:`~.live.run_live`), close and verify every output, and write
the summary. Whatever ends the run (the source's end or disconnection,
a limit, Ctrl-C), the CSV and the recording are complete and valid."""
import contextlib
import json
import os.path as osp
import threading
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..messages import quiet
from ..partial_outputs import claim_output
from .live import LiveSummary, run_live
from .live_outputs import (LiveCsv, LiveWindow, MjpegStream, OverlayRecording,
                           display_available)
from .live_source import DEFAULT_OPEN_TIMEOUT_S, LiveSource
from .segmenter import PolypSegmenter

#: The files a live run writes in its output folder.
CSV_FILE = 'live_frames.csv'
RECORDING_FILE = 'live_overlay.mp4'
SUMMARY_FILE = 'live_summary.json'


@dataclass
class LiveOptions:
    """What a live run reads and where its overlays go.

    Attributes:
        source (str): A camera index, a capture device, a stream URL, or a
            video file with ``realtime`` (:class:`~.live_source.LiveSource`).
        realtime (bool): Replay a file at its own rate.
        loop (bool): Replay a file again from its start at its end.
        open_timeout_s (float): How long opening the source may take.
        out_dir (str, optional): Where the CSV, the recording and the
            summary go; None writes no file.
        record (bool): Record the overlays (needs ``out_dir``).
        serve (bool): Serve the MJPEG stream.
        host (str): Its address (loopback by default).
        port (int): Its port (0: a free one).
        auth (tuple, optional): ``(user, password)`` it asks for.
        show (bool): Show a window (where a display exists).
        max_frames (int, optional): Stop after this many processed frames.
        max_seconds (float, optional): Stop after this long.
    """
    source: str
    realtime: bool = False
    loop: bool = False
    open_timeout_s: float = DEFAULT_OPEN_TIMEOUT_S
    out_dir: Optional[str] = None
    record: bool = False
    serve: bool = False
    host: str = '127.0.0.1'
    port: int = 0
    auth: Optional[Tuple[str, str]] = None
    show: bool = False
    max_frames: Optional[int] = None
    max_seconds: Optional[float] = None


def check_options(options: LiveOptions) -> None:
    """Refuse what cannot work before the source is opened.

    Raises:
        ValueError: A recording without an output folder, a window without
            a display, non-positive limits.
    """
    if options.record and options.out_dir is None:
        raise ValueError('a recording needs an output folder (--out-dir)')
    if options.show and not display_available():
        raise ValueError('no display here for a window (--show); serve the '
                         'stream instead (--serve)')
    for name in ('max_frames', 'max_seconds'):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise ValueError(f'{name} must be positive')


def live_session(segmenter: PolypSegmenter,
                 options: LiveOptions,
                 log: Callable[[str], None] = quiet,
                 stop: Optional[threading.Event] = None) -> LiveSummary:
    """Run ``segmenter`` live on ``options.source`` with the outputs asked.

    Args:
        segmenter (PolypSegmenter): Any backend.
        options (LiveOptions): Source, outputs, limits.
        log (Callable): Messages (the stream's address, what was written).
        stop (threading.Event, optional): Set to stop (the tool sets it on
            Ctrl-C and SIGTERM).

    Returns:
        LiveSummary: With :attr:`~.live.LiveSummary.outputs` the files
        written.

    Raises:
        LiveSourceError: If the source cannot be opened in time.
        ValueError: See :func:`check_options`.
        OSError: If the recording does not hold what was written.
    """
    check_options(options)
    stop = stop or threading.Event()
    files = []
    with contextlib.ExitStack() as closing:
        source = closing.enter_context(
            LiveSource(options.source, options.realtime,
                       options.open_timeout_s, options.loop))
        log(f'{options.source}: {source.kind}, {source.fps:g} frames/s')
        outputs = []
        if options.out_dir is not None:
            outputs.append(LiveCsv(osp.join(options.out_dir, CSV_FILE)))
            files.append(outputs[-1].path)
        if options.record:
            outputs.append(
                OverlayRecording(
                    osp.join(options.out_dir, RECORDING_FILE), source.fps))
            files.append(outputs[-1].path)
        if options.serve:
            outputs.append(
                MjpegStream(options.host, options.port, options.auth))
            log(f'streaming the overlays on {outputs[-1].url}')
        if options.show:
            outputs.append(LiveWindow(stop))
        # Closed in reverse order, each whatever the others do (the
        # recording verifies itself when closed).
        for output in outputs:
            closing.callback(output.close)
        summary = run_live(segmenter, source, outputs, options.max_frames,
                           options.max_seconds, stop)
    summary.outputs = [path for path in files if osp.isfile(path)]
    if options.out_dir is not None:
        path = claim_output(osp.join(options.out_dir, SUMMARY_FILE))
        with open(path, 'w') as f:
            json.dump(summary.as_dict(), f, indent=2)
        summary.outputs.append(path)
    return summary
