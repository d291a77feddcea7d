"""What the web app's *Segment* tab computes, without the page: checked
uploads within a budget, segmentation with per-frame timing, the pictures at
any threshold and the downloads.

Nothing of a result is held in memory: each frame and its probability map
go to the session's folder on disk as they are segmented (frames as
uploaded, video frames as JPEG; maps as the network's float maps for
images, whose masks are :meth:`PolypSegmenter.mask`'s exactly, and as 8-bit
PNGs for videos, the protocol's own quantisation
:func:`~ssformer_mmseg.evaluation.polyp_scores.to_uint8_map`, thresholded as
``PolypMetric`` thresholds them). A session keeps one result, replaced by
the next, so its disk use is one request's budget (:class:`Budget`).
Moving the threshold re-draws from disk without running the network.
"""
import contextlib
import os
import os.path as osp
import shutil
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence

import cv2
import numpy as np

from ..apis.batch_inference import timed_batches
from ..apis.inputs import VIDEO_SUFFIXES, VideoSource
from ..apis.postprocess import foreground_mask
from ..apis.segmenter import PolypSegmenter
from ..apis.writers import VideoOverlayWriter
from ..datasets.image_io import read_header, write_image
from ..datasets.polyp_files import (IMAGE_SUFFIXES, PolypFileError, read_bytes,
                                    read_image)
from ..evaluation.polyp_scores import to_uint8_map
from ..visualization.overlays import draw_overlay

#: Called with (frames done, frames in all) during long jobs.
Progress = Optional[Callable[[int, int], None]]


@dataclass(frozen=True)
class Budget:
    """What one request may ask of the server; the page refuses more with a
    message naming the limit and the option of ``tools/webapp.py`` that
    sets it. (Each frame's own size is the checked reader's limit,
    ``--max-pixels``.)

    Attributes:
        max_files (int): Images in one request (``--max-files``).
        max_request_pixels (int): Pixels in one request: the images' sizes
            summed, or a video's frames x its frame size
            (``--max-request-pixels``). The default takes a 2-minute 720p
            clip at 25 frames/s (2.8 G).
        max_video_frames (int): Frames of one video
            (``--max-video-frames``).
    """
    max_files: int = 100
    max_request_pixels: int = 4 * 1024**3
    max_video_frames: int = 3000


class UploadError(ValueError):
    """An upload the app cannot segment; the message says why, naming the
    file."""


def threshold_map(prob: np.ndarray, threshold: float) -> np.ndarray:
    """{0, 255} mask of a float (0-1) or 8-bit (0-255) probability map:
    above ``threshold`` (0-1)."""
    if prob.dtype == np.uint8:
        return np.where(prob > threshold * 255, 255, 0).astype(np.uint8)
    return foreground_mask(prob, threshold)


def as_uint8_map(prob: np.ndarray) -> np.ndarray:
    """A float or 8-bit probability map as an 8-bit map."""
    return prob if prob.dtype == np.uint8 else to_uint8_map(prob)


@dataclass
class Segmented:
    """One segmented frame, on disk.

    Attributes:
        name (str): The upload's file name, or ``<video stem>_<index>``.
        frame_file (str): The frame (BGR image file).
        prob_file (str): Its probability map: ``.npy`` float32 (0-1) for
            images, 8-bit ``.png`` (0-255) for video frames.
        seconds (float): Time of its segmentation (network and pre- and
            post-processing; a video's frames share their batch's time).
        width (int): Frame width.
        height (int): Frame height.
        levels (np.ndarray): Pixel count of each of the 256 levels of its
            8-bit map, for the polyp share at any threshold without reading
            the map.
    """
    name: str
    frame_file: str
    prob_file: str
    seconds: float
    width: int
    height: int
    levels: np.ndarray

    def frame(self) -> np.ndarray:
        """(H, W, 3) uint8 BGR frame."""
        return cv2.imread(self.frame_file, cv2.IMREAD_COLOR)

    def prob(self) -> np.ndarray:
        """The probability map: float32 (0-1), or uint8 (0-255) for video
        frames."""
        if self.prob_file.endswith('.npy'):
            return np.load(self.prob_file)
        return cv2.imread(self.prob_file, cv2.IMREAD_GRAYSCALE)

    def mask(self, threshold: float) -> np.ndarray:
        """{0, 255} mask: probability above ``threshold`` (0-1)."""
        return threshold_map(self.prob(), threshold)

    def prob_map(self) -> np.ndarray:
        """The probability as an 8-bit map."""
        return as_uint8_map(self.prob())

    def polyp_share(self, threshold: float) -> float:
        """Share of pixels whose 8-bit map is above ``threshold``."""
        above = self.levels[int(np.floor(threshold * 255)) + 1:].sum()
        return float(above) / max(int(self.levels.sum()), 1)


@dataclass
class Segmentation:
    """The frames of one run of the tab, where they came from, and the
    folder holding them.

    Attributes:
        folder (str): The session folder holding the frames and maps (and
            the downloads); :meth:`discard` removes it.
        frames (list[Segmented]): In upload (or video) order.
        fps (float, optional): The video's frame rate; None for images.
        backend (str): What ran the network (``'pytorch fp32'``, ...).
    """
    folder: str
    frames: List[Segmented] = field(default_factory=list)
    fps: Optional[float] = None
    backend: str = ''

    def add(self,
            name: str,
            frame: np.ndarray,
            prob: np.ndarray,
            seconds: float,
            frame_file: Optional[str] = None) -> None:
        """Store one frame (``frame_file``: an existing copy of it) and its
        map; neither stays in memory."""
        index = len(self.frames)
        if frame_file is None:  # JPEG at OpenCV's default quality, 95
            frame_file = osp.join(self.folder, 'frames', f'{index:06d}.jpg')
            write_image(frame_file, frame)
        if prob.dtype == np.uint8:
            prob_file = write_image(
                osp.join(self.folder, 'probs', f'{index:06d}.png'), prob)
        else:
            prob_file = osp.join(self.folder, 'probs', f'{index:06d}.npy')
            os.makedirs(osp.dirname(prob_file), exist_ok=True)
            np.save(prob_file, prob)
        levels = np.bincount(as_uint8_map(prob).ravel(), minlength=256)
        self.frames.append(
            Segmented(name, frame_file, prob_file, seconds, frame.shape[1],
                      frame.shape[0], levels))

    def discard(self) -> None:
        """Remove the session folder (frames, maps, downloads)."""
        shutil.rmtree(self.folder, ignore_errors=True)


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


def _over_budget(what: str, limit: int, option: str) -> UploadError:
    return UploadError(f'{what}, over the limit of {limit:,} per request '
                       f'(the server\'s {option} sets it)')


def check_images_budget(paths: Sequence[str], budget: Budget) -> None:
    """Refuse a request of too many images or pixels, from the files'
    headers, before any is decoded.

    Raises:
        UploadError: Naming the limit and the option that sets it.
    """
    if len(paths) > budget.max_files:
        raise _over_budget(f'{len(paths)} images', budget.max_files,
                           '--max-files')
    pixels = 0
    for path in paths:
        _check_suffix(path, IMAGE_SUFFIXES, 'an image')
        with _named_errors(path):
            header = read_header(read_bytes(path), path)
        pixels += header.width * header.height
    if pixels > budget.max_request_pixels:
        raise _over_budget(f'{pixels:,} pixels in {len(paths)} images',
                           budget.max_request_pixels, '--max-request-pixels')


def segment_images(segmenter: PolypSegmenter,
                   paths: Sequence[str],
                   folder: str,
                   budget: Budget = Budget(),
                   progress: Progress = None) -> Segmentation:
    """Segment uploaded images one by one, each timed, into ``folder``.

    The request's budget is checked from the headers first, then every file
    is checked before the first one runs, so one bad file in a selection
    gives its message and no partial result; one frame is in memory at a
    time.

    Raises:
        UploadError: For the first file that cannot be used, or a request
            over ``budget``.
    """
    check_images_budget(paths, budget)
    for path in paths:
        read_upload_image(path)
    result = Segmentation(folder, backend=_backend_name(segmenter))
    names = unique_names(osp.basename(p) for p in paths)
    frames = ((index, read_upload_image(path))
              for index, path in enumerate(paths))
    for [(index, frame)], [prob
                           ], seconds in timed_batches(segmenter, frames, 1):
        path = paths[index]
        copy = osp.join(folder, 'frames',
                        f'{index:06d}{osp.splitext(path)[1].lower()}')
        os.makedirs(osp.dirname(copy), exist_ok=True)
        shutil.copyfile(path, copy)
        result.add(names[index], frame, prob, seconds, frame_file=copy)
        if progress is not None:
            progress(index + 1, len(paths))
    return result


def unique_names(names: Sequence[str]) -> List[str]:
    """The names with ``_2``, ``_3``, ... before the suffix of repeated
    stems, so two uploads named alike keep separate downloads."""
    seen, unique = {}, []
    for name in names:
        stem, suffix = osp.splitext(name)
        count = seen[stem] = seen.get(stem, 0) + 1
        unique.append(name if count == 1 else f'{stem}_{count}{suffix}')
    return unique


def segment_video(segmenter: PolypSegmenter,
                  path: str,
                  folder: str,
                  budget: Budget = Budget(),
                  batch_size: int = 1,
                  progress: Progress = None) -> Segmentation:
    """Segment the frames of an uploaded video into ``folder``, a batch in
    memory at a time.

    Raises:
        UploadError: For a file that is not a video by its suffix, cannot be
            opened or decoded, holds frames of another size, has frames over
            the pixel limit, or more frames or pixels than ``budget``.
    """
    name = osp.basename(path)
    _check_suffix(path, VIDEO_SUFFIXES, 'a video')
    with _named_errors(path):
        source = VideoSource(path)
    frame_pixels = source.width * source.height
    max_frames = min(budget.max_video_frames,
                     budget.max_request_pixels // frame_pixels)
    with source, _named_errors(path):
        _check_frames(name, source.frame_count, frame_pixels, budget)
        result = Segmentation(
            folder, fps=source.fps, backend=_backend_name(segmenter))
        total = source.frame_count
        frames = _within_budget(source.frames(), name, max_frames,
                                frame_pixels, budget)
        for batch, probs, seconds in timed_batches(segmenter, frames,
                                                   batch_size):
            for (frame_name, frame), prob in zip(batch, probs):
                result.add(frame_name, frame, to_uint8_map(prob),
                           seconds / len(batch))
            if progress is not None:
                progress(len(result.frames), max(total, len(result.frames)))
    if progress is not None:
        progress(len(result.frames), len(result.frames))
    return result


def _check_frames(name: str,
                  frames: int,
                  frame_pixels: int,
                  budget: Budget,
                  more: str = '') -> None:
    if frames > budget.max_video_frames:
        raise _over_budget(f'{name}: {more}{frames - bool(more)} frames',
                           budget.max_video_frames, '--max-video-frames')
    if frames * frame_pixels > budget.max_request_pixels:
        raise _over_budget(
            f'{name}: {more}{(frames - bool(more)) * frame_pixels:,} pixels '
            f'({frames - bool(more)} frames)', budget.max_request_pixels,
            '--max-request-pixels')


def _within_budget(frames: Iterator[tuple], name: str, max_frames: int,
                   frame_pixels: int, budget: Budget) -> Iterator[tuple]:
    """``frames``, stopping with the budget's error at the first frame past
    ``max_frames`` (a video whose header undercounts its frames)."""
    for count, item in enumerate(frames, 1):
        if count > max_frames:
            _check_frames(name, max_frames + 1, frame_pixels, budget,
                          'more than ')
        yield item


def pictures(item: Segmented, threshold: float) -> tuple:
    """Overlay, probability map and mask of one frame, as RGB / grey
    uint8 images for the page."""
    prob = item.prob()  # read once for all three
    mask = threshold_map(prob, threshold)
    overlay = cv2.cvtColor(draw_overlay(item.frame(), mask), cv2.COLOR_BGR2RGB)
    heat = cv2.cvtColor(
        cv2.applyColorMap(as_uint8_map(prob), cv2.COLORMAP_INFERNO),
        cv2.COLOR_BGR2RGB)
    return overlay, heat, mask


def write_masks_zip(result: Segmentation, threshold: float, path: str) -> str:
    """A zip of every frame's {0, 255} mask PNG (``<name stem>.png``)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for item in result.frames:
            ok, png = cv2.imencode('.png', item.mask(threshold))
            if not ok:
                raise OSError(f'{path}: a mask could not be encoded as PNG')
            archive.writestr(osp.splitext(item.name)[0] + '.png', png)
    return path


def write_overlay_video(result: Segmentation,
                        threshold: float,
                        path: str,
                        progress: Progress = None) -> str:
    """The overlays of a video's frames as an MP4 at the video's rate
    (verified after writing)."""
    first = result.frames[0]
    with VideoOverlayWriter(path, result.fps,
                            (first.width, first.height)) as writer:
        for index, item in enumerate(result.frames):
            writer.write(draw_overlay(item.frame(), item.mask(threshold)))
            if progress is not None:
                progress(index + 1, len(result.frames))
    return path


def timing_rows(result: Segmentation, threshold: float) -> List[list]:
    """Rows of the page's frame table: name, size, ms, polyp share."""
    return [[
        item.name, f'{item.width}x{item.height}',
        round(item.seconds * 1e3, 1),
        round(item.polyp_share(threshold) * 100, 2)
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
