"""Segmenting an image, a folder of images or a video and writing the
results: the one batch loop for every input.

A run has three stages: reading (decode + preprocess a batch), inference
(the backend's logits) and finishing (logits to probabilities, then the
PNGs / overlay video). With ``overlap`` they run at once on consecutive
batches: a reader thread feeds a bounded queue, inference runs in the
calling thread, a writer thread consumes its results in order
(:class:`~.overlapped_stages.OverlappedStages`). Decoding,
OpenCV, torch and the inference engines release the GIL, so the stages
overlap. Outputs are the same, in the same order, and a run fails the
same way: a frame that cannot be read raises after the batches before it
are written, as in the sequential loop; an error of inference or writing
(or KeyboardInterrupt) stops every stage at once. No thread outlives the
run. Each stage is one method (:meth:`BatchRunner.prepare`,
:meth:`BatchRunner.infer`, :meth:`BatchRunner.finish`), so an inference
stage with several batches in flight can replace :meth:`~BatchRunner.infer`
alone.

By default (``overlap=None``) the stages overlap only where there are cores
the model does not use (a CUDA model, or more CPU cores than inference
threads): where the model's threads take every core, reading and writing
compete with it instead of filling idle time, and the overlapped run was
measured slower than the sequential one (``docs/deployment.md``).
"""
import os
import os.path as osp
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import (Callable, Iterable, Iterator, List, Optional, Sequence,
                    Tuple)

import numpy as np
import torch
from mmengine.utils import ProgressBar

from ..datasets.polyp_files import PolypFileError
from ..messages import listing
from ..partial_outputs import removed_on_error
from ..visualization.overlays import draw_overlay
from .inputs import (Frame, SkippedFrame, VideoSource, image_frames,
                     input_kind, list_images)
from .overlapped_stages import OverlappedStages, batches
from .postprocess import logits_to_probs
from .segmenter import PolypSegmenter
from .writers import PredictionWriter, VideoOverlayWriter, write_skipped_report

ResultCallback = Callable[[str, np.ndarray, np.ndarray], None]


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
        skipped_frames (list[SkippedFrame]): Skip mode: the frames that
            could not be read and were left out, in input order, with
            reasons (``name``, ``reason``).
        skipped_report (str, optional): Skip mode: the
            ``skipped_frames.csv`` written (also when none was skipped).
    """
    kind: str
    frames: int = 0
    seconds: float = 0.0
    outputs: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    skipped_frames: List[SkippedFrame] = field(default_factory=list)
    skipped_report: Optional[str] = None


class _Progress:
    """The progress bar, counting frames written and frames skipped.

    Only one thread updates it at a time: the writer during a run, the
    caller after it.
    """

    def __init__(self, total: int, enabled: bool,
                 skipped: Sequence[SkippedFrame]):
        self.bar = ProgressBar(total, file=sys.stderr) if enabled else None
        self.skipped = skipped
        self.skips_counted = 0

    def update(self, written: int) -> None:
        # The reader appends to ``skipped`` meanwhile; len() is atomic.
        skips = len(self.skipped)
        done = written + skips - self.skips_counted
        self.skips_counted = skips
        if self.bar is not None and done:
            self.bar.update(done)

    def close(self) -> None:
        self.update(0)
        if self.bar is not None:
            sys.stderr.write('\n')


class BatchRunner:
    """Runs frames through a segmenter in batches and hands each result on.

    Args:
        segmenter (PolypSegmenter): The model.
        out_dir (str): Output folder.
        batch_size (int): Frames per forward pass.
        save_frames (bool): For a video, also write the per-frame PNGs.
        progress (bool): Show a progress bar / counter on stderr.
        skip_bad_frames (bool): Leave out frames that cannot be read (folder
            images that fail the checked reader, video frames of another
            size or that fail to decode), keep the other outputs and list
            them in ``skipped_frames.csv``. By default such a frame stops
            the run and removes what it wrote. A run with no readable
            frame is an error either way.
        overlap (bool, optional): Run reading, inference and writing at
            once on consecutive batches (see the module docstring); False
            runs them one after the other; None (default) chooses with
            :func:`overlap_pays`. The outputs are identical.
    """

    def __init__(self,
                 segmenter: PolypSegmenter,
                 out_dir: str,
                 batch_size: int = 1,
                 save_frames: bool = False,
                 progress: bool = True,
                 skip_bad_frames: bool = False,
                 overlap: Optional[bool] = None):
        if batch_size < 1:
            raise ValueError(f'batch size must be >= 1, got {batch_size}')
        self.segmenter = segmenter
        self.out_dir = out_dir
        self.batch_size = batch_size
        self.save_frames = save_frames
        self.progress = progress
        self.skip_bad_frames = skip_bad_frames
        self.overlap = overlap_pays(segmenter.device) if overlap is None \
            else overlap
        #: The frames left out so far (skip mode), in input order.
        self.skipped_frames: List[SkippedFrame] = []

    def run(self, input_path: str) -> InferenceSummary:
        """Segment ``input_path`` (see :func:`run_inference`); if a frame
        cannot be read (outside skip mode) or any stage fails, nothing this
        run wrote is left behind."""
        summary = InferenceSummary(input_kind(input_path))
        self.skipped_frames = summary.skipped_frames
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
            if self.skip_bad_frames:
                if not summary.frames:
                    raise PolypFileError(
                        input_path, 'no frame could be read: ' +
                        listing(f'{frame.name} ({frame.reason})'
                                for frame in summary.skipped_frames))
                summary.skipped_report = write_skipped_report(
                    self.out_dir, summary.skipped_frames)
        summary.seconds = time.perf_counter() - start
        return summary

    def _on_bad(self) -> Optional[Callable[[SkippedFrame], None]]:
        return self.skipped_frames.append if self.skip_bad_frames else None

    def segment_images(self, paths: List[str]) -> int:
        """Write masks, probabilities and overlays of each image; returns
        the number of frames."""
        writer = PredictionWriter(self.out_dir, self.segmenter.threshold)
        return self.segment(
            image_frames(paths, self._on_bad()),
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
                    source.frames(self._on_bad()),
                    on_result,
                    total=source.frame_count)
        return count, video_path

    def segment(self,
                frames: Iterable[Frame],
                on_result: ResultCallback,
                total: int = 0) -> int:
        """Run ``(name, frame)`` pairs through the segmenter in batches,
        calling ``on_result(name, frame, prob)`` for each, in order; returns
        the number of frames. With ``overlap``, ``frames`` is consumed in a
        reader thread and ``on_result`` is called in a writer thread."""
        progress = _Progress(total, self.progress, self.skipped_frames)
        if self.overlap:
            count = self._segment_overlapped(frames, on_result, progress)
        else:
            count = self._segment_sequential(frames, on_result, progress)
        progress.close()
        return count

    # The three stages ------------------------------------------------------

    @torch.no_grad()
    def prepare(self, batch: List[Frame]) -> dict:
        """Reading stage, after decoding: test pipeline + data
        preprocessor of a batch (:meth:`PolypSegmenter.preprocess`)."""
        return self.segmenter.preprocess([frame for _, frame in batch])

    @torch.no_grad()
    def infer(self, data: dict) -> torch.Tensor:
        """Inference stage: the logits of a prepared batch."""
        return self.segmenter.logits(data['inputs'], data['data_samples'])

    @torch.no_grad()
    def finish(self, batch: List[Frame], data: dict, logits: torch.Tensor,
               on_result: ResultCallback) -> None:
        """Finishing stage: probabilities at each frame's size
        (:func:`~.postprocess.logits_to_probs`), handed to ``on_result``."""
        probs = logits_to_probs(logits, data['data_samples'],
                                self.segmenter.align_corners)
        for (name, frame), prob in zip(batch, probs):
            on_result(name, frame, prob)

    # The loops -------------------------------------------------------------

    def _segment_sequential(self, frames: Iterable[Frame],
                            on_result: ResultCallback,
                            progress: _Progress) -> int:
        # One stage after the other: the default where the model's threads
        # take every core (overlap_pays).
        count = 0
        for batch, probs, _ in timed_batches(self.segmenter, frames,
                                             self.batch_size):
            for (name, frame), prob in zip(batch, probs):
                on_result(name, frame, prob)
            count += len(batch)
            progress.update(len(batch))
        return count

    def _segment_overlapped(self, frames: Iterable[Frame],
                            on_result: ResultCallback,
                            progress: _Progress) -> int:

        def finish(batch, data, logits):
            self.finish(batch, data, logits, on_result)

        return OverlappedStages(self.prepare, self.infer, finish,
                                self.batch_size, progress.update).run(frames)


def timed_batches(
        segmenter: PolypSegmenter, frames: Iterable[Frame],
        batch_size: int) -> Iterator[Tuple[List[Frame], list, float]]:
    """The batch loop, one stage after the other: ``(name, frame)`` pairs
    through ``segmenter`` in batches of ``batch_size``.

    Yields:
        tuple: Each batch, its probability maps (each frame's size) and the
        seconds the segmenter took on it.
    """
    for batch in batches(frames, batch_size):
        start = time.perf_counter()
        probs = segmenter([frame for _, frame in batch])
        yield batch, probs, time.perf_counter() - start


def overlap_pays(device: str) -> bool:
    """Whether reading and writing can run beside inference without taking
    its cores: the model is on an accelerator, or the CPU has cores beyond
    PyTorch's inference threads (the engine backends use as many)."""
    if not str(device).startswith('cpu'):
        return True
    return (os.cpu_count() or 1) > torch.get_num_threads()


def run_inference(segmenter: PolypSegmenter,
                  input_path: str,
                  out_dir: str,
                  batch_size: int = 1,
                  save_frames: bool = False,
                  progress: bool = True,
                  skip_bad_frames: bool = False,
                  overlap: Optional[bool] = None) -> dict:
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
        skip_bad_frames (bool): Leave out frames that cannot be read and
            list them in ``<out_dir>/skipped_frames.csv`` (see
            :class:`BatchRunner`).
        overlap (bool, optional): Read, infer and write at once (same
            outputs); default: where :func:`overlap_pays`.

    If a frame cannot be read (outside skip mode), or no frame can, nothing
    this run wrote is left behind.

    Returns:
        dict: ``kind``, ``frames``, ``seconds``, ``outputs`` (paths written
        besides the per-frame folders), ``skipped`` (non-image files of a
        folder), ``skipped_frames`` (``{'name', 'reason'}`` of each frame
        left out), ``skipped_report`` (the CSV, or None outside skip mode);
        the fields of :class:`InferenceSummary`.
    """
    runner = BatchRunner(
        segmenter,
        out_dir,
        batch_size,
        save_frames,
        progress,
        skip_bad_frames=skip_bad_frames,
        overlap=overlap)
    return asdict(runner.run(input_path))
