"""What inference reads: images, folders of images and videos, as named
BGR frames."""
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

import cv2
import numpy as np

from ..datasets.polyp_files import (IMAGE_SUFFIXES, PolypFileError, read_image,
                                    scan_image_folder)

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg',
                  '.wmv', '.webm')
#: Frames per second assumed where a container reports none.
DEFAULT_FPS = 25.0

Frame = Tuple[str, np.ndarray]


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


def image_frames(paths: Sequence[str]) -> Iterator[Frame]:
    """``(stem, frame)`` of each image, read with the checked reader: a
    corrupt, truncated or grey file stops with a PolypFileError naming it."""
    for path in paths:
        yield osp.splitext(osp.basename(path))[0], read_image(path)


class VideoSource:
    """The frames of a video file, named ``<video stem>_<index:06d>``.

    Args:
        path (str): The video.

    Raises:
        PolypFileError: If OpenCV cannot open it or decode a first frame.
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
        ok, self._first = self.capture.read()
        if not ok:
            self.close()
            raise PolypFileError(path, 'no frame could be decoded')
        self.height, self.width = self._first.shape[:2]

    def frames(self) -> Iterator[Frame]:
        """Every frame, checked to have the first frame's size."""
        frame, index = self._first, 0
        while frame is not None:
            name = f'{self.stem}_{index:06d}'
            if frame.shape[:2] != (self.height, self.width):
                raise PolypFileError(
                    self.path, f'frame {name} is {frame.shape[1]}x'
                    f'{frame.shape[0]}, the first {self.width}x{self.height}')
            yield name, frame
            ok, frame = self.capture.read()
            frame = frame if ok else None
            index += 1

    def close(self) -> None:
        self.capture.release()

    def __enter__(self) -> 'VideoSource':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
