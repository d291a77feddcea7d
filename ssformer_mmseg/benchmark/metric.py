"""Cost of the polyp evaluation protocol per image, at typical sizes:
``score_image`` (every PolypMetric score of one image) and each of its parts
on synthetic maps, and the time to score the 798 images of the five PraNet
test sets at their native resolutions, and what their confidence
intervals add."""
import time
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np

from ..evaluation.intervals import BootstrapSettings, score_intervals
from ..evaluation.polyp_scores import score_image, to_uint8_map

SIZES = ((352, 352), (529, 622), (1072, 1920))
# (images, typical height, width) of the PraNet test sets.
PRANET_TEST_SETS = dict(
    Kvasir=(100, 529, 622),
    CVC_ClinicDB=(62, 288, 384),
    CVC_ColonDB=(380, 500, 574),
    ETIS_LaribPolypDB=(196, 966, 1225),
    CVC_300=(60, 500, 574))


def synthetic_pair(height: int, width: int, rng: np.random.Generator):
    """A blob-shaped ground truth and a blurred, noisy prediction of it."""
    gt = np.zeros((height, width), np.uint8)
    cv2.ellipse(gt, (width // 2, height // 2), (width // 5, height // 4), 30,
                0, 360, 1, -1)
    soft = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), width / 80)
    prob = np.clip(0.9 * soft + 0.1 * rng.random(gt.shape), 0, 1)
    return to_uint8_map(prob), gt.astype(bool)


def best_time(func: Callable, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_metric(
        repeats: int = 3) -> Tuple[List[str], List[tuple], float, float]:
    """Time ``score_image`` and its parts at :data:`SIZES`.

    Returns:
        tuple: The part names, one ``(height, width, total seconds, [part
        seconds])`` row per size, the median seconds per pixel, and the
        estimated seconds to score the PraNet test sets.
    """
    import py_sod_metrics as sod

    rng = np.random.default_rng(0)
    parts = dict(
        Sm=lambda: sod.Smeasure(),
        Em=lambda: sod.Emeasure(),
        wFm=lambda: sod.WeightedFmeasure(),
        MAE=lambda: sod.MAE(),
        DiceIoU_curves=lambda: sod.FmeasureV2(
            metric_handlers=dict(
                dice=sod.DICEHandler(with_dynamic=True, with_adaptive=False),
                iou=sod.IOUHandler(with_dynamic=True, with_adaptive=False))))
    rows, per_pixel = [], []
    for height, width in SIZES:
        prob_map, gt = synthetic_pair(height, width, rng)
        gt_map = gt.astype(np.uint8) * 255
        score_image(prob_map, gt)  # warm-up (imports, caches)
        total = best_time(lambda: score_image(prob_map, gt), repeats)
        part_times = [
            best_time(lambda: make().step(prob_map, gt_map), repeats)
            for make in parts.values()
        ]
        per_pixel.append(total / (height * width))
        rows.append((height, width, total, part_times))
    seconds_per_pixel = float(np.median(per_pixel))
    estimate = sum(n * h * w * seconds_per_pixel
                   for n, h, w in PRANET_TEST_SETS.values())
    return list(parts), rows, seconds_per_pixel, estimate


def measure_intervals(repeats: int = 3,
                      settings: Optional[BootstrapSettings] = None) -> float:
    """Seconds the confidence intervals add to a test run of the five
    PraNet test sets (798 images, their set sizes): every score's interval
    per set and for the mean row, on per-image scores of small synthetic
    maps (the intervals' cost depends on the image counts, not sizes)."""
    rng = np.random.default_rng(0)
    scores = []
    for name, (count, _, _) in PRANET_TEST_SETS.items():
        for index in range(count):
            prob_map, gt = synthetic_pair(int(rng.integers(48, 80)), 64, rng)
            scores.append(score_image(prob_map, gt, 0.5, name, str(index)))
    settings = settings or BootstrapSettings()
    return best_time(lambda: score_intervals(scores, settings), repeats)
