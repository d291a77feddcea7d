"""Segmenting an image, a folder of images or a video and writing the
results: the one batch loop for every input."""
import os.path as osp
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator, List

import numpy as np
from mmengine.utils import ProgressBar

from ..partial_outputs import removed_on_error
from ..visualization.overlays import draw_overlay
from .inputs import Frame, VideoSource, image_frames, input_kind, list_images
from .segmenter import PolypSegmenter
from .writers import PredictionWriter, VideoOverlayWriter


@dataclass
class InferenceSummary:
    """What a run did.

    Attributes:
        kind (str): ``'image'``, ``'folder'`` or ``'video'``.
        frames (int): Frames segmented.
        seconds (float): Wall time of the run.
        outputs (list[str]): Files written besides the per-frame folders
            (the overlay video).
        skipped (list[str]): Non-image files of a folder, not read.
    """
    kind: str
    frames: int = 0
    seconds: float = 0.0
    outputs: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def batches(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class BatchRunner:
    """Runs frames through a segmenter in batches and hands each result on.

    Args:
        segmenter (PolypSegmenter): The model.
        out_dir (str): Output folder.
        batch_size (int): Frames per forward pass.
        save_frames (bool): For a video, also write the per-frame PNGs.
        progress (bool): Show a progress bar / counter on stderr.
    """

    def __init__(self,
                 segmenter: PolypSegmenter,
                 out_dir: str,
                 batch_size: int = 1,
                 save_frames: bool = False,
                 progress: bool = True):
        if batch_size < 1:
            raise ValueError(f'batch size must be >= 1, got {batch_size}')
        self.segmenter = segmenter
        self.out_dir = out_dir
        self.batch_size = batch_size
        self.save_frames = save_frames
        self.progress = progress

    def run(self, input_path: str) -> InferenceSummary:
        """Segment ``input_path`` (see :func:`run_inference`); if a frame
        cannot be read, nothing this run wrote is left behind."""
        summary = InferenceSummary(input_kind(input_path))
        start = time.perf_counter()
        with removed_on_error(self.out_dir):
            if summary.kind == 'video':
                summary.frames, video = self.segment_video(input_path)
                summary.outputs.append(video)
            else:
                if summary.kind == 'folder':
                    paths, summary.skipped = list_images(input_path)
                else:
                    paths = [input_path]
                summary.frames = self.segment_images(paths)
        summary.seconds = time.perf_counter() - start
        return summary

    def segment_images(self, paths: List[str]) -> int:
        """Write masks, probabilities and overlays of each image; returns
        the number of frames."""
        writer = PredictionWriter(self.out_dir, self.segmenter.threshold)
        return self.segment(
            image_frames(paths),
            lambda name, frame, prob: writer.write(name, frame, prob),
            total=len(paths))

    def segment_video(self, path: str) -> tuple:
        """Write ``<video stem>_overlay.mp4`` (and, with ``save_frames``,
        the per-frame PNGs); returns the frame count and the video's path."""
        with VideoSource(path) as source:
            video_path = osp.join(self.out_dir, f'{source.stem}_overlay.mp4')
            writer = PredictionWriter(self.out_dir, self.segmenter.threshold) \
                if self.save_frames else None
            with VideoOverlayWriter(video_path, source.fps,
                                    (source.width, source.height)) as video:

                def on_result(name: str, frame: np.ndarray,
                              prob: np.ndarray) -> None:
                    if writer is not None:
                        overlay = writer.write(name, frame, prob)
                    else:
                        overlay = draw_overlay(frame,
                                               self.segmenter.mask(prob))
                    video.write(overlay)

                count = self.segment(
                    source.frames(), on_result, total=source.frame_count)
        return count, video_path

    def segment(self,
                frames: Iterable[Frame],
                on_result: Callable[[str, np.ndarray, np.ndarray], None],
                total: int = 0) -> int:
        """Run ``(name, frame)`` pairs through the segmenter in batches,
        calling ``on_result(name, frame, prob)`` for each; returns the
        number of frames."""
        bar = ProgressBar(total, file=sys.stderr) if self.progress else None
        count = 0
        for batch in batches(frames, self.batch_size):
            probs = self.segmenter([frame for _, frame in batch])
            for (name, frame), prob in zip(batch, probs):
                on_result(name, frame, prob)
            count += len(batch)
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            sys.stderr.write('\n')
        return count


def run_inference(segmenter: PolypSegmenter,
                  input_path: str,
                  out_dir: str,
                  batch_size: int = 1,
                  save_frames: bool = False,
                  progress: bool = True) -> dict:
    """Segment an image, a folder of images or a video and write results.

    Images (and, with ``save_frames``, video frames named
    ``<video stem>_<index:06d>``) get ``masks/``, ``probs/`` and
    ``overlays/`` PNGs (:class:`~.writers.PredictionWriter`); a video gets
    ``<video stem>_overlay.mp4`` with its fps and frame size.

    Args:
        segmenter (PolypSegmenter): The model.
        input_path (str): Image, folder or video.
        out_dir (str): Output folder.
        batch_size (int): Frames per forward pass.
        save_frames (bool): For a video, also write the per-frame PNGs.
        progress (bool): Show a progress bar / counter on stderr.

    If a frame cannot be read, nothing this run wrote is left behind.

    Returns:
        dict: ``kind``, ``frames``, ``seconds``, ``outputs`` (paths written
        besides the per-frame folders), ``skipped`` (non-image files of a
        folder); the fields of :class:`InferenceSummary`.
    """
    runner = BatchRunner(segmenter, out_dir, batch_size, save_frames, progress)
    return asdict(runner.run(input_path))
