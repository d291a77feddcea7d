"""Per-image scores shaped as ``score_image``'s, for the interval and
comparison tests (no maps needed)."""
import numpy as np


def synthetic_scores(count: int,
                     name: str,
                     seed: int,
                     level: float = 0.7) -> list:
    """Per-image scores shaped as score_image's, random but plausible."""
    rng = np.random.default_rng(seed)
    scores = []
    for index in range(count):
        # A per-image level and a curve that peaks somewhere in the middle.
        base = np.clip(rng.normal(level, 0.2), 0, 1)
        peak = rng.integers(60, 200)
        curve = np.clip(
            base - 0.3 * np.abs(np.arange(256) - peak) / 256 +
            rng.normal(0, 0.02, 256), 0, 1)
        scores.append(
            dict(
                dataset=name,
                name=f'{name}_{index}',
                dice=float(curve[128]),
                iou=float(curve[128] * 0.8),
                sm=float(np.clip(base + rng.normal(0, 0.05), 0, 1)),
                wfm=float(base * 0.9),
                mae=float(rng.uniform(0, 0.2)),
                dice_curve=curve,
                iou_curve=curve * 0.8,
                em_curve=np.clip(curve + 0.1, 0, 1)))
    return scores
