"""What inference reads: images, folders of images and videos, as named
BGR frames."""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..datasets.image_io import max_pixels, over_pixel_limit
from ..datasets.polyp_files import (IMAGE_SUFFIXES, PolypFileError, read_image,
                                    scan_image_folder)

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg',
                  '.wmv', '.webm')
#: Frames per second assumed where a container reports none.
DEFAULT_FPS = 25.0
#: Failed reads in a row after which a video is taken to have ended (skip
#: mode only; see :meth:`VideoSource.frames`).
MAX_DECODE_FAILURES = 8

Frame = Tuple[str, np.ndarray]


@dataclass(frozen=True)
class SkippedFrame:
    """A frame that could not be read and was left out (skip mode).

    Attributes:
        name (str): The image's file name, or the video frame's name
            (``<video stem>_<index:06d>``).
        reason (str): Why it could not be read.
    """
    name: str
    reason: str


#: Called with each frame left out; without one, a bad frame raises.
OnBadFrame = Optional[Callable[[SkippedFrame], None]]


def input_kind(path: str) -> str:
    """``'folder'``, ``'video'`` or ``'image'`` (by suffix).

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If a file's suffix is neither an image nor a video one.
    """
    if osp.isdir(path):
        return 'folder'
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    suffix = osp.splitext(path)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        return 'video'
    if suffix in IMAGE_SUFFIXES:
        return 'image'
    raise ValueError(f'{path}: unknown input type; expected an image '
                     f'({", ".join(IMAGE_SUFFIXES)}), a video '
                     f'({", ".join(VIDEO_SUFFIXES)}) or a folder of images')


def list_images(folder: str) -> Tuple[List[str], List[str]]:
    """The images of a folder (not recursive), sorted, and the other files.

    Hidden and system files and subfolders are ignored silently.

    Raises:
        PolypFileError: If the folder has no image, or two images share a
            stem (their outputs would overwrite each other).
    """
    images = scan_image_folder(folder).check('image')
    return images.paths(), images.others


def image_frames(paths: Sequence[str],
                 on_bad: OnBadFrame = None) -> Iterator[Frame]:
    """``(stem, frame)`` of each image, read with the checked reader.

    Args:
        paths (Sequence[str]): The images.
        on_bad (callable, optional): Takes a :class:`SkippedFrame` for each
            file that cannot be read (corrupt, truncated, 16-bit, grey...),
            which is then left out. Without it, such a file stops with a
            PolypFileError naming it.
    """
    for path in paths:
        name = osp.basename(path)
        try:
            frame = read_image(path)
        except PolypFileError as error:
            if on_bad is None:
                raise
            on_bad(SkippedFrame(name, error.problem or str(error)))
            continue
        yield osp.splitext(name)[0], frame


class VideoSource:
    """The frames of a video file, named ``<video stem>_<index:06d>``.

    Args:
        path (str): The video.

    Raises:
        PolypFileError: If OpenCV cannot open it or decode a first frame,
            or its frames are larger than :func:`max_pixels` (checked from
            the container before a frame is decoded).
    """

    def __init__(self, path: str):
        self.path = path
        self.stem = osp.splitext(osp.basename(path))[0]
        self.capture = cv2.VideoCapture(path)
        if not self.capture.isOpened():
            raise PolypFileError(path, 'cannot be opened as a video by OpenCV')
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        # Some containers report no rate; 25 fps keeps the video playable.
        self.fps = fps if fps and np.isfinite(fps) and fps > 0 else \
            DEFAULT_FPS
        #: Frame count as the container reports it (0 if unknown).
        self.frame_count = max(
            int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._check_size(
            int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        ok, self._first = self.capture.read()
        if not ok:
            self.close()
            raise PolypFileError(path, 'no frame could be decoded')
        self.height, self.width = self._first.shape[:2]
        self._check_size(self.width, self.height)

    def _check_size(self, width: int, height: int) -> None:
        if width * height > max_pixels():
            self.close()
            raise over_pixel_limit(
                self.path, f'frames are {width}x{height} ({width * height:,} '
                'pixels)')

    def frame_name(self, index: int) -> str:
        return f'{self.stem}_{index:06d}'

    def frames(self, on_bad: OnBadFrame = None) -> Iterator[Frame]:
        """Every frame, checked to have the first frame's size.

        Args:
            on_bad (callable, optional): Takes a :class:`SkippedFrame` for
                each frame left out: one of another size, or one that
                fails to decode while a later one decodes. Without it, a
                frame of another size raises a PolypFileError and the first
                failed read ends the video. Frames keep their index in the
                video either way.
        """
        frame, index = self._first, 0
        while frame is not None:
            name = self.frame_name(index)
            if frame.shape[:2] != (self.height, self.width):
                problem = (f'{frame.shape[1]}x{frame.shape[0]}, the first '
                           f'{self.width}x{self.height}')
                if on_bad is None:
                    raise PolypFileError(self.path,
                                         f'frame {name} is {problem}')
                on_bad(SkippedFrame(name, f'frame is {problem}'))
            else:
                yield name, frame
            frame, index = self._read_next(index, on_bad)

    def _read_next(self, index: int, on_bad: OnBadFrame) -> tuple:
        """The frame after ``index`` and its index; ``(None, _)`` at the
        end."""
        ok, frame = self.capture.read()
        if ok or on_bad is None:
            return (frame if ok else None), index + 1
        # A read fails at the end, but also at a broken packet mid-stream,
        # after which decoding can go on. Only failures followed by a good
        # frame are reported: container frame counts are often wrong, so a
        # failure at the end cannot be told from the end (where the extra
        # reads return at once).
        for failures in range(1, MAX_DECODE_FAILURES):
            ok, frame = self.capture.read()
            if ok:
                for lost in range(index + 1, index + 1 + failures):
                    on_bad(
                        SkippedFrame(
                            self.frame_name(lost), 'could not be decoded'))
                return frame, index + 1 + failures
        return None, index + 1

    def close(self) -> None:
        self.capture.release()

    def __enter__(self) -> 'VideoSource':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
