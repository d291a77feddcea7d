"""Input size x engine x precision against a frame-rate target
(``--target-fps``): which combination reaches N frames/s here, and what
it costs in accuracy.

Each combination is the whole segmenter as the live path runs it: the
config's preprocessing at that input size, the network in that engine and
precision, post-processing to the frame's size. The engine models are
deployed by ``tools/deploy.py``'s step at that size (int8 calibrated on
training frames at that size); the PyTorch rows are eager fp32 and the
fast path. All are timed one frame at a time (live latency) on real
training frames, round-robin in the same rounds; frames/s is 1 / p50.
With a checkpoint and the config's test data each is scored (meanDic,
PolypMetric) against the fp32 PyTorch model at the trained size. The
recommendation is the most accurate combination that reaches the target
(without scores: the largest input, then the highest precision); when
none does, the report says so and names the fastest.
"""
import itertools
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from ..apis.backends import PyTorchBackend
from ..apis.loading import load_segmentor
from ..apis.pipeline import network_input_size, with_input_size
from ..apis.segmenter import PolypSegmenter
from ..datasets.polyp_files import read_image
from ..deploy import calibration as calib
from ..deploy.accuracy import compare, score_segmenter
from ..deploy.build import DeployOptions, deploy
from ..evaluation.polyp_scores import MEAN_ROW
from ..evaluation.saved_maps import ground_truth
from .engines import runnable_rows, selected_engines
from .measure import interleaved_times, summarize
from .options import BenchmarkOptions

#: Precisions from the most to the least accurate (the tie-break without
#: scores).
PRECISION_ORDER = ('fp32', 'bf16', 'int8')


@dataclass
class Combination:
    """One input size, engine and precision, as a segmenter."""
    name: str
    size: Tuple[int, int]
    engine: str
    precision: str
    segmenter: PolypSegmenter


def _timed_frames(cfg: Config, options: BenchmarkOptions) -> List[np.ndarray]:
    """Real training frames (at their own size) where the config's data is
    there, else random 288x384 frames."""
    if calib.has_data_root(cfg):
        frames = calib.training_frames(cfg, options.throughput_batch,
                                       options.seed + 1)
        return [read_image(path) for path in frames.images]
    rng = np.random.default_rng(options.seed)
    return list(
        rng.integers(
            0, 256, (options.throughput_batch, 288, 384, 3), dtype=np.uint8))


def _pytorch_rows(cfg: Config, checkpoint: str,
                  size: Tuple[int, int]) -> List[Combination]:
    sized = with_input_size(cfg, size)
    rows = [
        Combination(f'eager fp32 @{size[0]}x{size[1]}', size, 'pytorch',
                    'fp32', PolypSegmenter(sized, checkpoint))
    ]
    for precision in PyTorchBackend.supported_precisions('cpu'):
        rows.append(
            Combination(
                f'pytorch fast {precision} @{size[0]}x{size[1]}', size,
                'pytorch', precision,
                PolypSegmenter(
                    sized, checkpoint, fast={}, precision=precision)))
    return rows


def _engine_rows(cfg: Config, checkpoint: str, size: Tuple[int, int],
                 work_dir: str, options: BenchmarkOptions,
                 skipped: List[dict]) -> List[Combination]:
    """Each selected engine at each precision it runs here, deployed at
    ``size`` (int8 needs the training split to calibrate on)."""
    has_data = calib.has_data_root(cfg)
    rows = []

    def row_name(engine: str, precision: str) -> str:
        return f'{engine} {precision} @{size[0]}x{size[1]}'

    def no_calibration(precision: str) -> Optional[str]:
        if precision == 'int8' and not has_data:
            return 'int8 calibrates on the training split (data_root)'
        return None

    for engine_name, _, precision, name in runnable_rows(
            selected_engines(options.backends), skipped, row_name,
            no_calibration):
        options.log(f'deploying {name}')
        deployed = deploy(
            DeployOptions(
                cfg,
                checkpoint,
                engine_name,
                precision,
                osp.join(work_dir, name.replace(' ', '_')),
                calib_count=options.calib_count,
                seed=options.seed,
                accuracy_control='never',
                input_size=size,
                check_accuracy=False))
        rows.append(
            Combination(name, size, engine_name, precision,
                        deployed.segmenter()))
    return rows


def _time(rows: List[Combination], frames: List[np.ndarray],
          options: BenchmarkOptions) -> Dict[str, List[float]]:
    """Seconds per one-frame call of each row, round-robin, each row going
    through the frames in the same order."""

    def call(row: Combination) -> Callable[[], None]:
        cycle = itertools.cycle(frames)
        return lambda: row.segmenter([next(cycle)])

    with torch.no_grad():
        return interleaved_times({row.name: call(row)
                                  for row in rows}, 'cpu', options.warmup,
                                 options.rounds, options.log)


def _mean_scores(report: dict) -> Tuple[float, float, List[float]]:
    """meanDic, its difference from the reference and that difference's
    paired bootstrap interval, over the test sets (their mean row where
    there are several)."""
    entry = report['sets'].get(MEAN_ROW) or next(iter(report['sets'].values()))
    return (entry['engine']['meanDic'], entry['delta']['meanDic'],
            entry['delta_ci']['meanDic'])


def _score(
        rows: List[Combination], cfg: Config, checkpoint: str,
        options: BenchmarkOptions
) -> Dict[str, Tuple[float, float, List[float]]]:
    """meanDic and ΔmeanDic (against fp32 PyTorch at the trained size) of
    each row on the config's test images (every k-th, to
    ``options.score_images``)."""
    samples = ground_truth(cfg)
    if options.score_images and len(samples) > options.score_images:
        step = len(samples) / options.score_images
        samples = [samples[int(i * step)] for i in range(options.score_images)]
    options.log(f'scoring {len(rows)} combinations on {len(samples)} test '
                'images')
    reference = score_segmenter(PolypSegmenter(cfg, checkpoint), samples)
    return {
        row.name: _mean_scores(
            compare(score_segmenter(row.segmenter, samples), reference))
        for row in rows
    }


def recommend(rows: List[dict], target_fps: float) -> Optional[str]:
    """The most accurate row reaching ``target_fps`` (without scores: the
    largest input, then the highest precision, then the fastest); None if
    none reaches it."""
    fit = [row for row in rows if row['fps'] >= target_fps]
    if not fit:
        return None

    def key(row: dict) -> tuple:
        accuracy = row.get('meanDic')
        return (accuracy if accuracy is not None else 0.0,
                row['size'][0] * row['size'][1],
                -PRECISION_ORDER.index(row['precision']), row['fps'])

    return max(fit, key=key)['name']


def benchmark_target_fps(cfg: Config, checkpoint: Optional[str],
                         options: BenchmarkOptions) -> dict:
    """Time (and with a checkpoint and test data, score) every input size
    of ``options.sizes`` with every engine and precision that runs here.

    Returns:
        dict: ``rows`` (name, size, engine, precision, fps, p50/p90 ms, and
        meanDic / delta_meanDic / delta_meanDic_ci, the paired 95 %
        bootstrap interval of the difference, where scored), ``skipped``,
        ``target_fps``, ``recommended`` (None if no row reaches the
        target), ``fastest``, ``trained_size``, ``scored`` and ``frames``.
    """
    trained = network_input_size(cfg)
    sizes = [(side, side) for side in options.sizes]
    skipped: List[dict] = []
    with tempfile.TemporaryDirectory() as work_dir:
        weights = checkpoint
        if weights is None:  # deploying needs a file: the random weights
            weights = osp.join(work_dir, 'random_weights.pth')
            torch.save({'state_dict': load_segmentor(cfg).state_dict()},
                       weights)
        combinations = []
        for size in sizes:
            combinations += _pytorch_rows(cfg, weights, size)
            combinations += _engine_rows(cfg, weights, size, work_dir, options,
                                         skipped)
        frames = _timed_frames(cfg, options)
        options.log(f'timing {len(combinations)} combinations on '
                    f'{len(frames)} frames x {options.rounds} rounds')
        times = _time(combinations, frames, options)
        scores = {}
        if checkpoint is not None:
            try:
                scores = _score(combinations, cfg, checkpoint, options)
            except (FileNotFoundError, ValueError) as error:
                options.log(f'not scored: {error}')
    rows = []
    timings = summarize(times, batch=1)
    for row in combinations:
        timing = timings[row.name]
        entry = dict(
            name=row.name,
            size=list(row.size),
            engine=row.engine,
            precision=row.precision,
            fps=timing['img_per_s'],
            p50_ms=timing['p50_ms'],
            p90_ms=timing['p90_ms'])
        if row.name in scores:
            entry['meanDic'], entry['delta_meanDic'], \
                entry['delta_meanDic_ci'] = scores[row.name]
        rows.append(entry)
    return dict(
        rows=rows,
        skipped=skipped,
        target_fps=options.target_fps,
        recommended=recommend(rows, options.target_fps),
        fastest=max(rows, key=lambda r: r['fps'])['name'],
        trained_size=list(trained),
        scored=bool(scores),
        frames=len(frames))
