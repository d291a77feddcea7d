"""Live frame sources: a camera or capture card, a stream URL (whatever
FFmpeg reads: RTSP, HTTP, UDP, ...), or a video file replayed at its own
rate as a camera would deliver it, read by OpenCV on a capture thread that
keeps only the newest frame.

Bounded latency by design: the consumer (:func:`~.live.run_live`) always
takes the newest frame; a frame that arrives while the consumer is busy
replaces the one before it, which is dropped (counted by the gap in the
frame indices), never queued.
"""
import os.path as osp
import threading
import time
from dataclasses import dataclass
from typing import Optional, Tuple, Union
from urllib.parse import urlparse

import cv2
import numpy as np

from ..datasets.image_io import max_pixels
from .inputs import DEFAULT_FPS

#: URL schemes read as network streams (through FFmpeg).
STREAM_SCHEMES = ('rtsp', 'rtsps', 'rtmp', 'http', 'https', 'udp', 'tcp',
                  'srt')
#: How long opening a source, or waiting for a stream's next frame, may
#: take before it is an error.
DEFAULT_OPEN_TIMEOUT_S = 10.0


class LiveSourceError(OSError):
    """A live source that cannot be opened or read, named."""

    def __init__(self, source: str, problem: str):
        super().__init__(f'{source}: {problem}')
        self.source = source


@dataclass(frozen=True)
class CapturedFrame:
    """One frame as the source delivered it.

    Attributes:
        index (int): Its position in the source, from 0; the indices the
            consumer skips are the dropped frames.
        image (np.ndarray): (H, W, 3) uint8 BGR.
        captured_at (float): ``time.perf_counter()`` when it arrived.
    """
    index: int
    image: np.ndarray
    captured_at: float


def source_kind(source: str) -> Tuple[str, Union[int, str]]:
    """What ``source`` names: ``('camera', 0)`` for a camera index,
    ``('device', '/dev/video0')``, ``('stream', url)`` or ``('file', path)``.
    """
    if source.isdigit():
        return 'camera', int(source)
    if source.startswith('/dev/'):
        return 'device', source
    if urlparse(source).scheme.lower() in STREAM_SCHEMES:
        return 'stream', source
    return 'file', source


def _open_capture(kind: str, target: Union[int, str],
                  timeout_s: float) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture``, or None if it did not open."""
    if kind == 'stream':
        milliseconds = int(timeout_s * 1000)
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds
        ])
    return cv2.VideoCapture(target)


def open_within(source: str, timeout_s: float) -> cv2.VideoCapture:
    """Open ``source`` with OpenCV, giving up after ``timeout_s`` however
    the backend behaves (some block on an unreachable host for minutes).

    Raises:
        LiveSourceError: Naming the source and why: no such file, camera or
            device, not opened, or not opened in time.
    """
    kind, target = source_kind(source)
    if kind == 'file' and not osp.isfile(source):
        raise LiveSourceError(
            source, 'no such video file (a camera is a '
            'number such as 0, or /dev/videoN; a stream a '
            'URL)')
    if kind == 'device' and not osp.exists(source):
        raise LiveSourceError(source, 'no such capture device')
    opened = {}

    def open_capture() -> None:
        opened['capture'] = _open_capture(kind, target, timeout_s)

    # A daemon thread: if the backend never returns, it is left behind.
    opener = threading.Thread(target=open_capture, daemon=True)
    opener.start()
    opener.join(timeout_s)
    capture = opened.get('capture')
    if capture is None:
        raise LiveSourceError(source, f'not opened within {timeout_s:g} s')
    if not capture.isOpened():
        capture.release()
        what = {
            'camera': 'no camera with this index',
            'device': 'the capture device cannot be opened',
            'stream': 'the stream cannot be opened (unreachable, refused '
            'or not a video stream)',
            'file': 'cannot be opened as a video by OpenCV'
        }[kind]
        raise LiveSourceError(source, what)
    return capture


class LiveSource:
    """Frames of a live source, the newest one kept by a capture thread.

    Args:
        source (str): A camera index (``'0'``), a capture device
            (``'/dev/video0'``), a stream URL, or a video file with
            ``realtime``.
        realtime (bool): Replay a video file at its own frame rate: frame
            ``i`` becomes available ``i / fps`` seconds after the start,
            as from a camera. Required for files (the offline path,
            :func:`~.batch_inference.run_inference`, segments every frame).
        open_timeout_s (float): How long opening (and, for streams, each
            read) may take.
        loop (bool): Replay a file from its start again at its end, frame
            indices going on (a long run from a short clip).

    Raises:
        LiveSourceError: If the source cannot be opened in time, or its
            frames are over the pixel limit.
        ValueError: For a file without ``realtime``.
    """

    def __init__(self,
                 source: str,
                 realtime: bool = False,
                 open_timeout_s: float = DEFAULT_OPEN_TIMEOUT_S,
                 loop: bool = False):
        self.source = source
        self.kind, _ = source_kind(source)
        if self.kind == 'file' and not realtime:
            raise ValueError(
                f'{source}: a video file is a live source only when '
                'replayed in real time (--realtime); tools/infer.py '
                'segments every frame of a file')
        if loop and self.kind != 'file':
            raise ValueError(f'{source}: only a video file can be looped')
        self.realtime = realtime
        self.loop = loop
        self.open_timeout_s = open_timeout_s
        self.capture = open_within(source, open_timeout_s)
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        #: Frames per second the source reports (25 where it reports none).
        self.fps = fps if fps and np.isfinite(fps) and fps > 0 else \
            DEFAULT_FPS
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > max_pixels():
            self.capture.release()
            raise LiveSourceError(
                source, f'frames are {width}x{height}, over the pixel limit '
                f'({max_pixels():,}; SSFORMER_MAX_PIXELS)')
        #: Frames delivered so far.
        self.frames_in = 0
        #: Why the source ended (None while it runs).
        self.end_reason: Optional[str] = None
        self._newest: Optional[CapturedFrame] = None
        self._ended = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._capture, name='live-capture', daemon=True)
        self._thread.start()

    @property
    def ended(self) -> bool:
        """Whether the source delivers no more frames."""
        return self._ended

    def _capture(self) -> None:
        start = time.perf_counter()
        index = 0
        reason = 'stopped'
        try:
            while not self._stop.is_set():
                ok, image = self.capture.read()
                if not ok and self.loop and index > 0:
                    self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = self.capture.read()
                if not ok:
                    reason = ('the end of the file' if self.kind == 'file' else
                              'the source stopped delivering frames '
                              '(ended or disconnected)')
                    break
                if self.realtime:
                    wait = start + index / self.fps - time.perf_counter()
                    if wait > 0 and self._stop.wait(wait):
                        break
                with self._changed:
                    self._newest = CapturedFrame(index, image,
                                                 time.perf_counter())
                    self.frames_in = index + 1
                    self._changed.notify_all()
                index += 1
        except Exception as error:  # reported to the consumer, not lost
            reason = f'reading failed: {type(error).__name__}: {error}'
        finally:
            with self._changed:
                self.end_reason = reason
                self._ended = True
                self._changed.notify_all()

    def newest(self,
               after: int = -1,
               timeout: Optional[float] = None) -> Optional[CapturedFrame]:
        """The newest frame with an index above ``after``, waiting for one.

        Returns:
            CapturedFrame | None: None if the source has ended with no such
            frame left, or ``timeout`` passed first.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: self._ended or
                (self._newest is not None and self._newest.index > after),
                timeout)
            newest = self._newest
            if newest is not None and newest.index > after:
                return newest
            return None

    def close(self) -> None:
        """Stop the capture thread and release the source (after the read
        in progress, which a stream's read timeout bounds)."""
        self._stop.set()
        self._thread.join(timeout=self.open_timeout_s + 1)
        self.capture.release()

    def __enter__(self) -> 'LiveSource':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
