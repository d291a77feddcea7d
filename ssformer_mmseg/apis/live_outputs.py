"""Where a live run's overlays go (each an output of
:func:`~.live.run_live`, called with a frame's record and overlay): the
per-frame CSV, a recording at the source's timing, an MJPEG stream served
over HTTP that any browser shows, and a window where a display exists."""
import base64
import csv
import http.server
import os
import threading
from typing import Optional, Tuple

import cv2
import numpy as np

from ..network_access import warn_if_exposed
from ..partial_outputs import claim_output
from .live import LIVE_FRAME_FIELDS, LiveFrame
from .writers import VideoOverlayWriter


class LiveCsv:
    """One row per processed frame (:data:`~.live.LIVE_FRAME_FIELDS`),
    flushed as it is written, so the file is complete up to the last frame
    however the run ends."""

    def __init__(self, path: str):
        self.path = claim_output(path)
        self._file = open(path, 'w', newline='')
        self._writer = csv.DictWriter(self._file, LIVE_FRAME_FIELDS)
        self._writer.writeheader()
        self._file.flush()

    def __call__(self, record: LiveFrame, overlay: np.ndarray) -> None:
        self._writer.writerow({
            name: round(value, 3) if isinstance(value, float) else value
            for name, value in vars(record).items()
        })
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class OverlayRecording:
    """An MP4 of the overlays at the source's timing: a dropped frame's
    place holds the overlay before it, so the recording plays as long as
    the source did (from the first processed frame), at the frames' own
    size. Verified when closed (:class:`~.writers.VideoOverlayWriter`); no
    file if no frame was processed.

    Args:
        path (str): The ``.mp4`` file.
        fps (float): The source's frame rate.
    """

    def __init__(self, path: str, fps: float):
        self.path = path
        self.fps = fps
        self._video: Optional[VideoOverlayWriter] = None
        self._last: Optional[Tuple[int, np.ndarray]] = None

    def __call__(self, record: LiveFrame, overlay: np.ndarray) -> None:
        if self._video is None:
            self._video = VideoOverlayWriter(
                self.path, self.fps, (overlay.shape[1], overlay.shape[0]))
        if self._last is not None:
            last_index, last_overlay = self._last
            for _ in range(record.index - last_index - 1):
                self._video.write(last_overlay)
        self._video.write(overlay)
        self._last = (record.index, overlay)

    @property
    def frames_written(self) -> int:
        return 0 if self._video is None else self._video.frames_written

    def close(self) -> None:
        """Finish the file and verify it.

        Raises:
            OSError: If the file does not hold what was written.
        """
        if self._video is not None:
            self._video.close()


class _Latest:
    """The newest JPEG, and a condition to wait for the next one."""

    def __init__(self):
        self.jpeg: Optional[bytes] = None
        self.count = 0
        self.closed = False
        self.changed = threading.Condition()

    def put(self, jpeg: bytes) -> None:
        with self.changed:
            self.jpeg = jpeg
            self.count += 1
            self.changed.notify_all()

    def after(self, count: int, timeout: float) -> Tuple[int, bytes]:
        with self.changed:
            self.changed.wait_for(lambda: self.count > count or self.closed,
                                  timeout)
            return self.count, self.jpeg


_PAGE = ('<!doctype html><html><head><title>SSFormer live</title></head>'
         '<body style="margin:0;background:#111;color:#ddd;font-family:sans'
         '-serif"><p style="margin:8px">SSFormer live overlay</p>'
         '<img src="stream.mjpg" alt="live overlay" style="max-width:100%">'
         '</body></html>').encode()
_BOUNDARY = 'ssformerframe'


class MjpegStream:
    """The overlays as an MJPEG stream over HTTP (``/stream.mjpg``; ``/``
    is a page showing it, ``/frame.jpg`` the newest overlay), served on a
    thread; any browser shows it.

    Args:
        host (str): Address; loopback by default. Another address without
            ``auth`` warns (:class:`~ssformer_mmseg.network_access.
            ExposedWithoutAuthWarning`).
        port (int): Port; 0 picks a free one (see :attr:`url`).
        auth (tuple, optional): ``(user, password)`` asked for (HTTP basic).
        quality (int): JPEG quality.
    """

    def __init__(self,
                 host: str = '127.0.0.1',
                 port: int = 0,
                 auth: Optional[Tuple[str, str]] = None,
                 quality: int = 80):
        warn_if_exposed(host, auth, 'watch the live overlay')
        self.quality = quality
        self._latest = _Latest()
        expected = None if auth is None else 'Basic ' + base64.b64encode(
            f'{auth[0]}:{auth[1]}'.encode()).decode()
        self._server = http.server.ThreadingHTTPServer(
            (host, port), _handler(self._latest, expected))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name='live-mjpeg', daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The page's address (the stream is ``url + 'stream.mjpg'``)."""
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}/'

    def __call__(self, record: LiveFrame, overlay: np.ndarray) -> None:
        ok, jpeg = cv2.imencode('.jpg', overlay,
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            self._latest.put(jpeg.tobytes())

    def close(self) -> None:
        """End the streams and stop serving."""
        with self._latest.changed:
            self._latest.closed = True
            self._latest.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()


def _handler(latest: _Latest, expected_auth: Optional[str]):
    """The request handler class of one stream."""

    class Handler(http.server.BaseHTTPRequestHandler):

        def log_message(self, *args) -> None:  # no line per request
            pass

        def do_GET(self) -> None:
            if expected_auth is not None and \
                    self.headers.get('Authorization') != expected_auth:
                self.send_response(401)
                self.send_header('WWW-Authenticate',
                                 'Basic realm="SSFormer live"')
                self.end_headers()
                return
            path = self.path.split('?')[0]
            if path == '/':
                self._send(200, 'text/html; charset=utf-8', _PAGE)
            elif path == '/frame.jpg':
                _, jpeg = latest.after(0, timeout=5)
                if jpeg is None:
                    self._send(503, 'text/plain', b'no frame yet\n')
                else:
                    self._send(200, 'image/jpeg', jpeg)
            elif path == '/stream.mjpg':
                self._stream()
            else:
                self._send(404, 'text/plain', b'not found\n')

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header('Content-Type', kind)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header(
                'Content-Type', 'multipart/x-mixed-replace; '
                f'boundary={_BOUNDARY}')
            self.send_header('Cache-Control', 'no-cache')
            self.end_headers()
            seen = 0
            try:
                while not latest.closed:
                    count, jpeg = latest.after(seen, timeout=1)
                    if count == seen or jpeg is None:
                        continue
                    seen = count
                    self.wfile.write(
                        f'--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n'
                        f'Content-Length: {len(jpeg)}\r\n\r\n'.encode() +
                        jpeg + b'\r\n')
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer left

    return Handler


def display_available() -> bool:
    """Whether a window can be shown (a display on Linux; elsewhere
    assumed)."""
    return os.name != 'posix' or bool(
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


class LiveWindow:
    """The overlays in an OpenCV window; ``q`` or Esc sets ``stop``."""

    def __init__(self, stop: threading.Event, title: str = 'SSFormer live'):
        self.stop = stop
        self.title = title

    def __call__(self, record: LiveFrame, overlay: np.ndarray) -> None:
        cv2.imshow(self.title, overlay)
        if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
            self.stop.set()

    def close(self) -> None:
        cv2.destroyWindow(self.title)
