"""Writing inference results: per-frame PNGs, overlay videos and the
report of skipped frames."""
import csv
import os.path as osp
from typing import Sequence, Tuple

import cv2
import numpy as np

from ..datasets.image_io import write_image
from ..evaluation.polyp_scores import to_uint8_map
from ..partial_outputs import claim_output
from ..visualization.overlays import draw_overlay
from .inputs import SkippedFrame
from .postprocess import foreground_mask

#: File name of the skip-mode report in the output folder.
SKIPPED_REPORT = 'skipped_frames.csv'


class PredictionWriter:
    """Writes ``masks/``, ``probs/`` and ``overlays/`` PNGs under a folder.

    * ``masks/<stem>.png``: 0/255 mask, ``prob > threshold``;
    * ``probs/<stem>.png``: 8-bit probability ``rint(255 * prob)``, the
      format ``tools/test.py --out`` writes and ``tools/eval_maps.py``
      reads;
    * ``overlays/<stem>.png``: :func:`draw_overlay` of the frame.

    Args:
        out_dir (str): Output folder.
        threshold (float): Foreground threshold.
    """

    KINDS = ('masks', 'probs', 'overlays')

    def __init__(self, out_dir: str, threshold: float):
        self.out_dir = out_dir
        self.threshold = threshold

    def path(self, kind: str, stem: str) -> str:
        return osp.join(self.out_dir, kind, f'{stem}.png')

    def write(self, stem: str, frame: np.ndarray,
              prob: np.ndarray) -> np.ndarray:
        """Write the three files of one frame; returns the overlay."""
        mask = foreground_mask(prob, self.threshold)
        overlay = draw_overlay(frame, mask)
        write_image(self.path('masks', stem), mask)
        write_image(self.path('probs', stem), to_uint8_map(prob))
        write_image(self.path('overlays', stem), overlay)
        return overlay


class VideoOverlayWriter:
    """An MP4 (``mp4v``) video of overlays with the input's fps and size,
    verified when closed.

    OpenCV's writer reports no write error: a full disk leaves an MP4
    without its index ("moov atom not found") and ``write`` still returns.
    :meth:`close` therefore reopens the file and checks that it holds every
    frame written, at the right size.

    Args:
        path (str): Output ``.mp4`` file.
        fps (float): Frames per second.
        size (tuple[int, int]): (width, height).

    Raises:
        OSError: If OpenCV cannot open a writer (no MPEG-4 encoder).
    """

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        self.path = claim_output(path)
        self.size = tuple(size)
        self.frames_written = 0
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'),
                                      fps, self.size)
        if not self.writer.isOpened():
            raise OSError(f'{path}: OpenCV cannot write MPEG-4 video here')

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and verify it (see :func:`check_video`).

        Raises:
            OSError: If the file does not hold what was written.
        """
        if self.writer is None:
            return
        self.writer.release()
        self.writer = None
        check_video(self.path, self.frames_written, self.size)

    def __enter__(self) -> 'VideoOverlayWriter':
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is None:
            self.close()
        elif self.writer is not None:  # failing anyway: no verification
            self.writer.release()
            self.writer = None


def check_video(path: str, frames: int, size: Tuple[int, int]) -> None:
    """Reopen a written video and check its frame count, size and first
    frame.

    Raises:
        OSError: Naming the file and what is wrong with it.
    """
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise OSError(f'{path}: the video written cannot be opened (disk '
                          'full or write error?)')
        found = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        found_size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                      int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if found != frames or found_size != tuple(size):
            raise OSError(
                f'{path}: the video written holds {found} frame(s) of '
                f'{found_size[0]}x{found_size[1]}, expected {frames} of '
                f'{size[0]}x{size[1]} (disk full or write error?)')
        if frames and not capture.read()[0]:
            raise OSError(f'{path}: the first frame of the video written '
                          'cannot be decoded')
    finally:
        capture.release()


def write_skipped_report(out_dir: str, skipped: Sequence[SkippedFrame]) -> str:
    """Write ``skipped_frames.csv`` (columns ``name``, ``reason``; one row
    per frame left out, in input order) under ``out_dir``.

    Written also when nothing was skipped (header only), so a report of an
    earlier run in the same folder is never taken for this run's.

    Returns:
        str: The report's path.
    """
    path = claim_output(osp.join(out_dir, SKIPPED_REPORT))
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('name', 'reason'))
        writer.writerows((frame.name, frame.reason) for frame in skipped)
    return path
