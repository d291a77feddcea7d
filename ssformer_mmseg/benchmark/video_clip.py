"""A real colonoscopy clip, and what a segmenter keeps of its speed on it.

CVC-ClinicDB's frames are consecutive frames of 29 video sequences (its
``README.txt`` maps frame numbers to sequences), so a sequence written as a
video is a real clip: :func:`sequence_frames` picks one, :func:`write_clip`
encodes it. :func:`measure_video_throughput` compares the segmenter's own
frames/s with the end-to-end frames/s of
:func:`~ssformer_mmseg.apis.run_inference` on the
clip (decode, infer, overlay video), sequential and overlapped
(``tools/experiments/video_throughput.py``).
"""
import os
import os.path as osp
import re
import statistics
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..apis.batch_inference import run_inference
from ..apis.inputs import DEFAULT_FPS, VideoSource
from ..apis.segmenter import PolypSegmenter
from ..apis.writers import VideoOverlayWriter
from ..cpu_features import cpu_description
from ..datasets.polyp_files import PolypFileError, read_image

#: Environment variable naming the real-data root (as the tests read it).
DATA_ROOT_ENV = 'SSFORMER_TEST_DATA'
CLINICDB = 'cvc-clinicdb'
# A row of the README's table: "|  152 to 177  |  8  |".
_SEQUENCE_ROW = re.compile(r'(\d+)\s+to\s+(\d+)\s*\|\s*(\d+)\s*\|')


def default_data_root() -> str:
    """``$SSFORMER_TEST_DATA``, else ``../shared/data`` beside the
    repository (the tests' default)."""
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    return os.environ.get(DATA_ROOT_ENV, osp.join(repo, '..', 'shared',
                                                  'data'))


def clinicdb_sequences(data_root: str) -> Dict[int, Tuple[int, int]]:
    """Sequence number -> (first, last) frame number, from
    ``<data_root>/cvc-clinicdb/README.txt``.

    Raises:
        PolypFileError: If the README is missing or has no table.
    """
    readme = osp.join(data_root, CLINICDB, 'README.txt')
    if not osp.isfile(readme):
        raise PolypFileError(
            readme, 'not found; expected CVC-ClinicDB\'s '
            'README with its frame-to-sequence table')
    with open(readme, errors='replace') as f:
        rows = _SEQUENCE_ROW.findall(f.read())
    if not rows:
        raise PolypFileError(readme, 'has no "first to last | sequence" '
                             'table')
    return {int(seq): (int(first), int(last)) for first, last, seq in rows}


def sequence_frames(data_root: Optional[str] = None,
                    sequence: Optional[int] = None) -> Tuple[int, List[str]]:
    """The images of one CVC-ClinicDB sequence, in frame order.

    Args:
        data_root (str, optional): Holds ``cvc-clinicdb/README.txt`` and
            ``cvc-clinicdb/images/<frame>.png``; default
            :func:`default_data_root`.
        sequence (int, optional): Sequence number (1-29); default the
            longest (the first of equally long ones).

    Returns:
        tuple[int, list[str]]: The sequence number and its image paths.

    Raises:
        PolypFileError: If the table lacks the sequence or an image is
            missing.
    """
    root = data_root or default_data_root()
    sequences = clinicdb_sequences(root)
    if sequence is None:
        sequence = max(
            sorted(sequences), key=lambda s: sequences[s][1] - sequences[s][0])
    if sequence not in sequences:
        raise PolypFileError(
            osp.join(root, CLINICDB, 'README.txt'),
            f'no sequence {sequence}; it lists {min(sequences)} to '
            f'{max(sequences)}')
    first, last = sequences[sequence]
    paths = [
        osp.join(root, CLINICDB, 'images', f'{number}.png')
        for number in range(first, last + 1)
    ]
    missing = [path for path in paths if not osp.isfile(path)]
    if missing:
        raise PolypFileError(
            missing[0], f'missing ({len(missing)} frame(s) '
            f'of sequence {sequence} are)')
    return sequence, paths


def write_clip(frames_paths: Sequence[str],
               out_path: str,
               fps: float = DEFAULT_FPS) -> str:
    """Encode images as an MPEG-4 (``mp4v``) video, one frame each.

    Args:
        frames_paths (Sequence[str]): The frames, in order, all one size.
        out_path (str): The ``.mp4`` to write.
        fps (float): Frames per second.

    Returns:
        str: ``out_path``.

    Raises:
        PolypFileError: If a frame cannot be read or differs in size from
            the first.
        ValueError: If no frame is given.
    """
    if not frames_paths:
        raise ValueError('a clip needs at least one frame')
    first = read_image(frames_paths[0])
    size = (first.shape[1], first.shape[0])
    with VideoOverlayWriter(out_path, fps, size) as video:
        video.write(first)
        for path in frames_paths[1:]:
            frame = read_image(path)
            if frame.shape[:2] != first.shape[:2]:
                raise PolypFileError(
                    path, f'is {frame.shape[1]}x{frame.shape[0]}, the '
                    f'first frame {frames_paths[0]} {size[0]}x{size[1]}')
            video.write(frame)
    return out_path


@dataclass
class VideoThroughput:
    """Frames/s of a segmenter on a clip (medians over the repeats).

    Attributes:
        clip (str): The video.
        frames (int): Its frames.
        model_fps (float): The segmenter alone on decoded frames in
            memory, batch 1, after warm-up (preprocess, network,
            probabilities).
        sequential_fps (float): :func:`~.run_inference` on the clip,
            ``overlap=False``: decode, infer, overlay video, one after the
            other.
        overlapped_fps (float): The same with ``overlap=True``.
        cpu (str): :func:`~ssformer_mmseg.cpu_features.cpu_description`.
        runtime (str): Backend, precision and device.
        repeats (int): Timed passes of each measurement.
        threads (int): PyTorch's intra-op threads.
        load (tuple[float, float]): The 1-minute load average before and
            after: other processes on the CPU skew every figure (and
            busy-waiting thread pools suffer most when the CPU is shared).
    """
    clip: str
    frames: int
    model_fps: float
    sequential_fps: float
    overlapped_fps: float
    cpu: str
    runtime: str
    repeats: int
    threads: int
    load: Tuple[float, float]

    def report(self) -> str:
        """The figures as printed lines."""
        return '\n'.join([
            f'clip: {self.clip} ({self.frames} frames)',
            f'runtime: {self.runtime}, {self.threads} thread(s); CPU: '
            f'{self.cpu}, {os.cpu_count()} core(s), load average '
            f'{self.load[0]:.1f} before, {self.load[1]:.1f} after',
            f'median of {self.repeats} pass(es), batch 1:',
            f'  model alone (decoded frames): {self.model_fps:.2f} '
            'frames/s',
            f'  end to end, sequential:       {self.sequential_fps:.2f} '
            f'frames/s ({self.sequential_fps / self.model_fps:.0%} of the '
            'model)',
            f'  end to end, overlapped:       {self.overlapped_fps:.2f} '
            f'frames/s ({self.overlapped_fps / self.model_fps:.0%} of the '
            'model)',
            f'  overlapped / sequential:      '
            f'{self.overlapped_fps / self.sequential_fps:.2f}x',
        ])


def measure_video_throughput(segmenter: PolypSegmenter,
                             clip_path: str,
                             work_dir: str,
                             warmup: int = 3,
                             repeats: int = 3) -> VideoThroughput:
    """Time the segmenter alone and :func:`~.run_inference` on a clip.

    The clip is decoded into memory for the model-alone figure; the
    end-to-end runs write ``<work_dir>/<mode>_<pass>/`` and alternate
    sequential and overlapped, so drifting load on the machine affects both
    alike.

    Args:
        segmenter (PolypSegmenter): The model.
        clip_path (str): The video (e.g. from :func:`write_clip`).
        work_dir (str): Where the end-to-end runs write their outputs.
        warmup (int): Untimed frames first (allocation, kernel choice).
        repeats (int): Timed passes of each measurement.
    """
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    load_before = os.getloadavg()[0]
    with VideoSource(clip_path) as source:
        frames = [frame for _, frame in source.frames()]
    for frame in (frames * warmup)[:warmup]:
        segmenter([frame])
    model, timings = [], {False: [], True: []}
    for index in range(repeats):
        start = time.perf_counter()
        for frame in frames:
            segmenter([frame])
        model.append(len(frames) / (time.perf_counter() - start))
        for overlap in (False, True):
            mode = 'overlapped' if overlap else 'sequential'
            summary = run_inference(
                segmenter,
                clip_path,
                osp.join(work_dir, f'{mode}_{index}'),
                progress=False,
                overlap=overlap)
            timings[overlap].append(summary['frames'] / summary['seconds'])
    return VideoThroughput(
        clip=clip_path,
        frames=len(frames),
        model_fps=statistics.median(model),
        sequential_fps=statistics.median(timings[False]),
        overlapped_fps=statistics.median(timings[True]),
        cpu=cpu_description(),
        runtime=f'{segmenter.backend} {segmenter.precision} on '
        f'{segmenter.device}',
        repeats=repeats,
        threads=torch.get_num_threads(),
        load=(load_before, os.getloadavg()[0]))
