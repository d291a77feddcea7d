"""What the web app's *Segment* tab computes, without the page: checked
uploads, segmentation with per-frame timing, the pictures at any threshold
and the downloads.

Probabilities are kept, so moving the threshold re-draws without running
the network again: for images as the network's float maps (their masks are
:meth:`PolypSegmenter.mask`'s, exactly), for videos as 8-bit maps (the
protocol's own quantisation,
:func:`~ssformer_mmseg.evaluation.polyp_scores.to_uint8_map`, a quarter of
the memory; thresholded as ``PolypMetric`` thresholds them, which differs
from the float rule only within 1/510 of the threshold).
"""
import contextlib
import os
import os.path as osp
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence

import cv2
import numpy as np

from ..apis.inputs import VIDEO_SUFFIXES, VideoSource
from ..apis.postprocess import foreground_mask
from ..apis.segmenter import PolypSegmenter
from ..apis.writers import VideoOverlayWriter
from ..datasets.polyp_files import IMAGE_SUFFIXES, PolypFileError, read_image
from ..evaluation.polyp_scores import to_uint8_map
from ..visualization.overlays import draw_overlay

#: Most frames of an uploaded video that are segmented.
DEFAULT_MAX_VIDEO_FRAMES = 3000

#: Called with (frames done, frames in all) during long jobs.
Progress = Optional[Callable[[int, int], None]]


class UploadError(ValueError):
    """An upload the app cannot segment; the message says why, naming the
    file."""


@dataclass
class Segmented:
    """One segmented frame.

    Attributes:
        name (str): The upload's file name, or ``<video stem>_<index>``.
        frame (np.ndarray): (H, W, 3) uint8 BGR frame.
        prob (np.ndarray): (H, W) probability map: float32 (0-1) or, for
            video frames, uint8 (0-255).
        seconds (float): Time of its segmentation (network and pre- and
            post-processing; a video's frames share their batch's time).
    """
    name: str
    frame: np.ndarray
    prob: np.ndarray
    seconds: float

    def mask(self, threshold: float) -> np.ndarray:
        """{0, 255} mask: probability above ``threshold`` (0-1)."""
        if self.prob.dtype == np.uint8:
            return np.where(self.prob > threshold * 255, 255,
                            0).astype(np.uint8)
        return foreground_mask(self.prob, threshold)

    def prob_map(self) -> np.ndarray:
        """The probability as an 8-bit map."""
        return self.prob if self.prob.dtype == np.uint8 else to_uint8_map(
            self.prob)


@dataclass
class Segmentation:
    """The frames of one run of the tab, and where they came from.

    Attributes:
        frames (list[Segmented]): In upload (or video) order.
        fps (float, optional): The video's frame rate; None for images.
        backend (str): What ran the network (``'pytorch fp32'``, ...).
    """
    frames: List[Segmented] = field(default_factory=list)
    fps: Optional[float] = None
    backend: str = ''


def read_upload_image(path: str) -> np.ndarray:
    """An uploaded image as a checked BGR frame.

    Raises:
        UploadError: For a file that is not an image by its suffix, cannot
            be decoded or is truncated, is not an 8-bit colour image, or is
            over the pixel limit (checked from its header).
    """
    _check_suffix(path, IMAGE_SUFFIXES, 'an image')
    with _named_errors(path):
        return read_image(path)


def _check_suffix(path: str, suffixes: Sequence[str], kind: str) -> None:
    if osp.splitext(path)[1].lower() not in suffixes:
        raise UploadError(f'{osp.basename(path)}: not {kind} (expected '
                          f'{", ".join(suffixes)})')


@contextlib.contextmanager
def _named_errors(path: str) -> Iterator[None]:
    """PolypFileErrors as UploadErrors naming the upload's file name, not
    the temporary path it was saved under."""
    try:
        yield
    except PolypFileError as error:
        message, prefix = str(error), f'{error.path}: '
        problem = message[len(prefix):] if message.startswith(
            prefix) else message
        raise UploadError(f'{osp.basename(path)}: {problem}') from None


def _backend_name(segmenter: PolypSegmenter) -> str:
    return f'{segmenter.backend} {segmenter.precision}'


def segment_images(segmenter: PolypSegmenter,
                   paths: Sequence[str],
                   progress: Progress = None) -> Segmentation:
    """Segment uploaded images one by one, each timed.

    Every file is checked before the first one runs, so one bad file in a
    selection gives its message and no partial result.

    Raises:
        UploadError: For the first file that cannot be used.
    """
    frames = [(osp.basename(p), read_upload_image(p)) for p in paths]
    result = Segmentation(backend=_backend_name(segmenter))
    for index, (name, frame) in enumerate(frames):
        start = time.perf_counter()
        prob = segmenter([frame])[0]
        seconds = time.perf_counter() - start
        result.frames.append(Segmented(name, frame, prob, seconds))
        if progress is not None:
            progress(index + 1, len(frames))
    return result


def segment_video(segmenter: PolypSegmenter,
                  path: str,
                  max_frames: int = DEFAULT_MAX_VIDEO_FRAMES,
                  batch_size: int = 1,
                  progress: Progress = None) -> Segmentation:
    """Segment the frames of an uploaded video.

    Raises:
        UploadError: For a file that is not a video by its suffix, cannot be
            opened or decoded, holds frames of another size, has frames over
            the size limit or more than ``max_frames`` frames.
    """
    name = osp.basename(path)
    _check_suffix(path, VIDEO_SUFFIXES, 'a video')
    with _named_errors(path):
        source = VideoSource(path)
    with source, _named_errors(path):
        result = Segmentation(fps=source.fps, backend=_backend_name(segmenter))
        total = source.frame_count
        if total > max_frames:
            raise UploadError(f'{name}: {total} frames, over the limit of '
                              f'{max_frames}')
        batch: List[tuple] = []
        for frame_name, frame in source.frames():
            batch.append((frame_name, frame))
            if len(result.frames) + len(batch) > max_frames:
                raise UploadError(f'{name}: more than {max_frames} frames, '
                                  'over the limit')
            if len(batch) == batch_size:
                _segment_batch(segmenter, batch, result)
                batch = []
                if progress is not None:
                    progress(
                        len(result.frames), max(total, len(result.frames)))
        if batch:
            _segment_batch(segmenter, batch, result)
    if progress is not None:
        progress(len(result.frames), len(result.frames))
    return result


def _segment_batch(segmenter: PolypSegmenter, batch: List[tuple],
                   result: Segmentation) -> None:
    start = time.perf_counter()
    probs = segmenter([frame for _, frame in batch])
    seconds = (time.perf_counter() - start) / len(batch)
    result.frames += [
        Segmented(name, frame, to_uint8_map(prob), seconds)
        for (name, frame), prob in zip(batch, probs)
    ]


def pictures(item: Segmented, threshold: float) -> tuple:
    """Overlay, probability map and mask of one frame, as RGB / grey
    uint8 images for the page."""
    mask = item.mask(threshold)
    overlay = cv2.cvtColor(draw_overlay(item.frame, mask), cv2.COLOR_BGR2RGB)
    heat = cv2.cvtColor(
        cv2.applyColorMap(item.prob_map(), cv2.COLORMAP_INFERNO),
        cv2.COLOR_BGR2RGB)
    return overlay, heat, mask


def write_masks_zip(result: Segmentation, threshold: float, path: str) -> str:
    """A zip of every frame's {0, 255} mask PNG (``<name stem>.png``)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for item in result.frames:
            ok, png = cv2.imencode('.png', item.mask(threshold))
            assert ok, 'OpenCV failed to encode a PNG'
            archive.writestr(osp.splitext(item.name)[0] + '.png', png)
    return path


def write_overlay_video(result: Segmentation,
                        threshold: float,
                        path: str,
                        progress: Progress = None) -> str:
    """The overlays of a video's frames as an MP4 at the video's rate."""
    height, width = result.frames[0].frame.shape[:2]
    with VideoOverlayWriter(path, result.fps, (width, height)) as writer:
        for index, item in enumerate(result.frames):
            writer.write(draw_overlay(item.frame, item.mask(threshold)))
            if progress is not None:
                progress(index + 1, len(result.frames))
    return path


def timing_rows(result: Segmentation, threshold: float) -> List[list]:
    """Rows of the page's frame table: name, size, ms, polyp share."""
    return [[
        item.name, f'{item.frame.shape[1]}x{item.frame.shape[0]}',
        round(item.seconds * 1e3, 1),
        round(float((item.mask(threshold) > 0).mean()) * 100, 2)
    ] for item in result.frames]


def downloads(result: Segmentation,
              threshold: float,
              out_dir: str,
              progress: Progress = None) -> List[str]:
    """Write the masks zip (and for a video, the overlay video) into
    ``out_dir``; returns the files."""
    os.makedirs(out_dir, exist_ok=True)
    files = [
        write_masks_zip(result, threshold, osp.join(out_dir, 'masks.zip'))
    ]
    if result.fps is not None:
        files.append(
            write_overlay_video(result, threshold,
                                osp.join(out_dir, 'overlay.mp4'), progress))
    return files
