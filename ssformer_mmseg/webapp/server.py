"""Serving the page: :class:`WebApp` owns the server, its temporary folder
(uploads, session folders, downloads) and its stop (Ctrl-C or SIGTERM
clean up alike); authentication, and the warning when the page is exposed
beyond this machine without it."""
import os
import os.path as osp
import shutil
import signal
import tempfile
import threading
from typing import Optional, Tuple

from ..apis.segmenter import PolypSegmenter
# Defined there, shared with the live stream; imported from here before.
from ..network_access import (ExposedWithoutAuthWarning, is_loopback,
                              parse_auth, warn_if_exposed)
from . import segment
from .app import DEFAULT_CONCURRENCY, DEFAULT_IDLE_SECONDS, build_app

__all__ = [
    'WebApp', 'ExposedWithoutAuthWarning', 'is_loopback', 'parse_auth',
    'DEFAULT_MAX_FILE_SIZE'
]

#: Largest upload Gradio accepts (it refuses bigger ones itself).
DEFAULT_MAX_FILE_SIZE = '500mb'


def _stop_on_ctrl_c_or_sigterm() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM (a service manager's stop) raise
    KeyboardInterrupt in this process, so both clean up the same way.

    A process started by a parent that ignores SIGINT inherits that, and
    Python then never raises KeyboardInterrupt: the server would outlive
    every Ctrl-C. Only the main thread may set handlers.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)


class WebApp:
    """The app with its temporary folder: uploads, session folders and
    downloads go there, and :meth:`close` (or leaving the ``with`` block)
    stops the server and removes it.

    Args:
        segmenter (PolypSegmenter): What segments the uploads.
        host (str): Address to serve on; loopback by default, so the app is
            not reachable from other machines unless asked.
        port (int, optional): Port; None lets Gradio pick a free one from
            7860 up.
        review_dir (str, optional): The folder runs are reviewed under
            (opened at start).
        budget (segment.Budget): What one request may ask.
        auth (tuple, optional): ``(user, password)`` the page asks for.
        concurrency (int): Requests run at once (the model takes them one
            batch at a time, in arrival order).
        idle_seconds (float): A session's files are removed after this long
            unused.
        max_file_size (str): Largest upload.
    """

    def __init__(self,
                 segmenter: PolypSegmenter,
                 host: str = '127.0.0.1',
                 port: Optional[int] = None,
                 review_dir: Optional[str] = None,
                 budget: segment.Budget = segment.Budget(),
                 auth: Optional[Tuple[str, str]] = None,
                 concurrency: int = DEFAULT_CONCURRENCY,
                 idle_seconds: float = DEFAULT_IDLE_SECONDS,
                 max_file_size: str = DEFAULT_MAX_FILE_SIZE):
        self.temp_dir = tempfile.mkdtemp(prefix='ssformer-webapp-')
        # Gradio stores uploads under GRADIO_TEMP_DIR.
        self._previous_temp = os.environ.get('GRADIO_TEMP_DIR')
        os.environ['GRADIO_TEMP_DIR'] = osp.join(self.temp_dir, 'uploads')
        self.host, self.port = host, port
        self.auth = auth
        self.concurrency = concurrency
        self.max_file_size = max_file_size
        self.app = build_app(segmenter, self.temp_dir, review_dir, budget,
                             idle_seconds)
        self.url: Optional[str] = None

    def start(self, block: bool = False) -> str:
        """Serve; returns the local URL (``block``: serve until Ctrl-C or
        SIGTERM, then close)."""
        warn_if_exposed(
            self.host, self.auth, 'upload frames and read the runs under '
            'the review folder')
        self.app.queue(default_concurrency_limit=self.concurrency)
        try:
            self.app.launch(
                server_name=self.host,
                server_port=self.port,
                prevent_thread_lock=True,
                show_error=False,
                auth=self.auth,
                max_file_size=self.max_file_size,
                quiet=True)
        except BaseException:
            self.close()
            raise
        self.url = self.app.local_url
        if block:
            _stop_on_ctrl_c_or_sigterm()
            print(
                f'serving on {self.url} (uploads in {self.temp_dir}, removed '
                'on exit; Ctrl-C stops)',
                flush=True)
            try:
                self.app.block_thread()
            finally:
                self.close()
        return self.url

    def close(self) -> None:
        """Stop the server and remove the temporary folder."""
        try:
            self.app.close()
        finally:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            if self._previous_temp is None:
                os.environ.pop('GRADIO_TEMP_DIR', None)
            else:
                os.environ['GRADIO_TEMP_DIR'] = self._previous_temp

    def __enter__(self) -> 'WebApp':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
