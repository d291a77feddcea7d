"""Serving several users from one model: a first-come-first-served lock
around the backend, and the per-session folders on disk with their expiry.

The page runs several requests at once (Gradio's queue, explicit
concurrency), but a backend is not safe to call from two threads (the
OpenVINO backend shares one inference request), so every call goes through
:class:`SharedSegmenter`. Its lock is fair and taken per batch: a long
video releases it between batches, and a single frame that arrives
meanwhile runs next instead of after the whole video.
"""
import collections
import os
import os.path as osp
import shutil
import threading
import time
import uuid
from typing import List, Optional

import cv2
import numpy as np

from ..apis.segmenter import PolypSegmenter
from ..datasets.image_io import write_image


class FairLock:
    """A lock granted in the order it was asked for (``threading.Lock``
    lets a thread that releases and re-acquires at once starve the
    others)."""

    def __init__(self):
        self._condition = threading.Condition()
        self._waiting = collections.deque()
        self._held = False

    def __enter__(self) -> 'FairLock':
        ticket = object()
        with self._condition:
            self._waiting.append(ticket)
            while self._held or self._waiting[0] is not ticket:
                self._condition.wait()
            self._waiting.popleft()
            self._held = True
        return self

    def __exit__(self, *exc_info) -> None:
        with self._condition:
            self._held = False
            self._condition.notify_all()


class SharedSegmenter:
    """A :class:`PolypSegmenter` that runs one call at a time, in arrival
    order; the rest of its interface is the segmenter's."""

    def __init__(self, segmenter: PolypSegmenter):
        self.segmenter = segmenter
        self.lock = FairLock()

    def __call__(self, frames: List) -> list:
        with self.lock:
            return self.segmenter(frames)

    def __getattr__(self, name: str):
        return getattr(self.segmenter, name)


class SessionFolders:
    """One folder per page session under ``root``, removed when the
    session ends (Gradio's state deletion) or after ``idle_seconds``
    without use (:meth:`sweep`, run at every new segmentation).

    Args:
        root (str): Where the session folders live.
        idle_seconds (float): Idle time after which a folder is removed.
    """

    def __init__(self, root: str, idle_seconds: float):
        self.root = root
        self.idle_seconds = idle_seconds

    def new(self) -> str:
        """A new empty session folder (after sweeping the idle ones)."""
        self.sweep()
        folder = osp.join(self.root, uuid.uuid4().hex)
        os.makedirs(folder)
        return folder

    def sweep(self) -> List[str]:
        """Remove folders unused for ``idle_seconds``; returns them."""
        if not osp.isdir(self.root):
            return []
        removed = []
        now = time.time()
        for name in os.listdir(self.root):
            folder = osp.join(self.root, name)
            last_use = _last_use(folder)
            # None: removed meanwhile (its session replaced its result, or
            # a sweep of another request got there first).
            if last_use is not None and now - last_use > self.idle_seconds:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed


def _last_use(folder: str) -> Optional[float]:
    """The newest modification time in ``folder`` (itself included), or
    None if ``folder`` is gone."""
    try:
        newest = os.stat(folder).st_mtime
    except FileNotFoundError:
        return None
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                newest = max(newest, os.lstat(osp.join(root, name)).st_mtime)
            except FileNotFoundError:
                pass
    return newest


def touch(folder: str) -> None:
    """Mark a session folder as used now."""
    if osp.isdir(folder):
        os.utime(folder)


#: Numbered folders (views, downloads) kept per session folder: a page
#: copies its files at once, older ones are only a client's late download.
KEPT_FOLDERS = 4


def numbered_folder(parent: str) -> str:
    """A new folder ``parent/<n>`` (one past the newest), removing all but
    the newest :data:`KEPT_FOLDERS` - 1 before it.

    Each view and each set of downloads gets its own folder rather than
    rewriting the last one: two requests of one session may run at once
    (the frame slider moved while the threshold is redrawn), and Gradio
    copies a file after the handler returns.
    """
    os.makedirs(parent, exist_ok=True)
    numbers = sorted(int(n) for n in os.listdir(parent) if n.isdigit())
    for old in numbers[:max(len(numbers) - KEPT_FOLDERS + 1, 0)]:
        shutil.rmtree(osp.join(parent, str(old)), ignore_errors=True)
    number = numbers[-1] + 1 if numbers else 0
    while True:  # a request at once with this one may take a number first
        folder = osp.join(parent, str(number))
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            number += 1


def picture_files(folder: str, pictures: List[np.ndarray]) -> List[str]:
    """Write RGB (or grey) pictures as PNGs in a new numbered folder of
    ``folder/views`` (see :func:`numbered_folder`); returns their paths.

    The page gets files, not arrays: Gradio writes an array into its cache
    under a name made from its content, without a temporary name, so two
    users shown the same picture at once could be served a file being
    rewritten (seen in the load test as a truncated response). Files are
    copied into the cache atomically.
    """
    view = numbered_folder(osp.join(folder, 'views'))
    paths = []
    for index, picture in enumerate(pictures):
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR) \
            if picture.ndim == 3 else picture
        paths.append(write_image(osp.join(view, f'{index}.png'), bgr))
    return paths
