"""Writing inference results: per-frame PNGs, overlay videos and the
report of skipped frames."""
import csv
import os
import os.path as osp
from typing import Sequence, Tuple

import cv2
import numpy as np

from ..evaluation.polyp_scores import to_uint8_map
from ..visualization.overlays import draw_overlay
from .inputs import SkippedFrame
from .postprocess import foreground_mask

#: File name of the skip-mode report in the output folder.
SKIPPED_REPORT = 'skipped_frames.csv'


def _write_png(path: str, image: np.ndarray) -> None:
    if not cv2.imwrite(path, image):
        raise OSError(f'{path}: cannot be written')


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
        for kind in self.KINDS:
            os.makedirs(osp.join(out_dir, kind), exist_ok=True)

    def path(self, kind: str, stem: str) -> str:
        return osp.join(self.out_dir, kind, f'{stem}.png')

    def write(self, stem: str, frame: np.ndarray,
              prob: np.ndarray) -> np.ndarray:
        """Write the three files of one frame; returns the overlay."""
        mask = foreground_mask(prob, self.threshold)
        overlay = draw_overlay(frame, mask)
        _write_png(self.path('masks', stem), mask)
        _write_png(self.path('probs', stem), to_uint8_map(prob))
        _write_png(self.path('overlays', stem), overlay)
        return overlay


class VideoOverlayWriter:
    """An MP4 (``mp4v``) video of overlays with the input's fps and size.

    Args:
        path (str): Output ``.mp4`` file.
        fps (float): Frames per second.
        size (tuple[int, int]): (width, height).

    Raises:
        OSError: If OpenCV cannot open a writer (no MPEG-4 encoder).
    """

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path = path
        self.size = tuple(size)
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'),
                                      fps, self.size)
        if not self.writer.isOpened():
            raise OSError(f'{path}: OpenCV cannot write MPEG-4 video here')

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()

    def __enter__(self) -> 'VideoOverlayWriter':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def write_skipped_report(out_dir: str, skipped: Sequence[SkippedFrame]) -> str:
    """Write ``skipped_frames.csv`` (columns ``name``, ``reason``; one row
    per frame left out, in input order) under ``out_dir``.

    Written also when nothing was skipped (header only), so a report of an
    earlier run in the same folder is never taken for this run's.

    Returns:
        str: The report's path.
    """
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, SKIPPED_REPORT)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('name', 'reason'))
        writer.writerows((frame.name, frame.reason) for frame in skipped)
    return path
