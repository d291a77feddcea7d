"""How sure is a score: bootstrap confidence intervals over the images.

A test set is a sample of images; a score is a function of that sample.
Resampling the images with replacement (SciPy's ``scipy.stats.bootstrap``,
BCa by default) gives an interval for every score of
:mod:`~ssformer_mmseg.evaluation.polyp_scores`, computed exactly as the
score is (a max-of-mean-curve metric is resampled through its curves, not
through per-image maxima). The mean row over several sets resamples each
set on its own (the sets are independent samples). A paired difference
resamples the same images for both models, which is what makes it tighter
than two separate intervals.

A resample is handed to the scores as image weights (how often each image
was drawn), so one matrix product scores thousands of resamples at once.
"""
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .polyp_scores import (MEAN_ROW, group_by_set, metric_inputs,
                           weighted_scores)

#: (low, high) of one score.
Bounds = Tuple[float, float]
#: Per-image metric inputs of one set (:func:`~.polyp_scores.metric_inputs`).
Inputs = Dict[str, np.ndarray]


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are computed.

    Attributes:
        resamples (int): Bootstrap resamples; 0 turns intervals off.
        confidence (float): Confidence level of the intervals.
        seed (int): Seed of the resampling: equal settings, equal intervals.
        method (str): SciPy's interval method (``'BCa'``, ``'percentile'``,
            ``'basic'``).
    """
    resamples: int = 9999
    confidence: float = 0.95
    seed: int = 0
    method: str = 'BCa'

    @property
    def enabled(self) -> bool:
        return self.resamples > 0

    def describe(self) -> str:
        """The method in words, for tables and reports."""
        return (f'{self.confidence:.0%} {self.method} bootstrap over images '
                f'(scipy.stats.bootstrap, {self.resamples} resamples, '
                f'seed {self.seed})')

    def as_dict(self) -> dict:
        return dict(
            method=self.method,
            confidence=self.confidence,
            resamples=self.resamples,
            seed=self.seed,
            description=self.describe())


@dataclass
class Intervals:
    """Intervals of a summary: ``bounds[set][metric] = (low, high)``.

    Attributes:
        bounds (dict): Per row of the summary (sets, the mean row), per
            metric. NaN where a set has fewer than 2 images.
        settings (BootstrapSettings): How they were computed.
        percentile_fallback (list): ``'set/metric'`` whose BCa interval
            was not defined (a skewed, near-degenerate resample
            distribution) and is the percentile interval instead.
    """
    bounds: Dict[str, Dict[str, Bounds]]
    settings: BootstrapSettings
    percentile_fallback: List[str]

    def describe(self) -> str:
        text = self.settings.describe()
        if self.percentile_fallback:
            text += ('; percentile interval where BCa is undefined: ' +
                     ', '.join(self.percentile_fallback))
        return text


def resample_weights(indices: np.ndarray, images: int) -> np.ndarray:
    """Image weights of resamples given as image indices.

    Args:
        indices (np.ndarray): (..., M) indices into ``images`` images,
            each row one resample of M draws.
        images (int): N, the number of images.

    Returns:
        np.ndarray: (R, N) with R = prod(...): each image's share of the
        draws of its row.
    """
    draws = indices.shape[-1]
    flat = indices.reshape(-1, draws).astype(np.int64)
    rows = flat.shape[0]
    counts = np.bincount(
        (flat + images * np.arange(rows)[:, None]).ravel(),
        minlength=rows * images).reshape(rows, images)
    return counts / draws


def _scores_of(inputs: Inputs, indices: np.ndarray) -> np.ndarray:
    """(metrics, ...) scores of resamples given as (..., M) indices."""
    images = len(next(iter(inputs.values())))
    scores = weighted_scores(inputs, resample_weights(indices, images))
    return np.stack(list(scores.values())).reshape(-1, *indices.shape[:-1])


def scorer(inputs: Inputs) -> Callable[[np.ndarray], np.ndarray]:
    """Scores of resampled images of one set: (..., M) indices ->
    (metrics, ...)."""
    return lambda indices: _scores_of(inputs, indices)


def difference_scorer(first: Inputs,
                      second: Inputs) -> Callable[[np.ndarray], np.ndarray]:
    """``first - second`` of each metric, both scored on the same
    resampled images (a paired bootstrap); the two hold the same images in
    the same order."""
    return lambda indices: (
        _scores_of(first, indices) - _scores_of(second, indices))


def mean_statistic(scorers: Sequence[Callable]) -> Callable:
    """SciPy statistic: the unweighted mean over sets of their
    :func:`scorer` (or :func:`difference_scorer`), one index sample per
    set (the sets resampled independently)."""

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(score(idx)
                   for score, idx in zip(scorers, indices)) / len(scorers)

    return statistic


def bootstrap_bounds(
        samples: Sequence[int], statistic: Callable,
        settings: BootstrapSettings,
        metrics: Sequence[str]) -> Tuple[Dict[str, Bounds], List[str]]:
    """Run SciPy's bootstrap on image indices and read off each metric.

    Args:
        samples (Sequence[int]): Images per independent sample.
        statistic (Callable): Vectorised over index samples, returning
            (len(metrics), ...) (see :func:`mean_statistic`).
        settings (BootstrapSettings): Resamples, level, seed, method.
        metrics (Sequence[str]): Names of the statistic's rows.

    Returns:
        tuple: ``{metric: (low, high)}`` (NaN where a sample has fewer than
        2 images) and the metrics whose interval fell back to percentile.
    """
    if min(samples) < 2:
        return {m: (float('nan'), float('nan')) for m in metrics}, []
    from scipy import stats

    # A degenerate resample distribution (every image scoring alike) is
    # handled below, per metric: SciPy's warnings about it say nothing more.
    with warnings.catch_warnings(), np.errstate(
            invalid='ignore', divide='ignore'):
        warnings.simplefilter('ignore', stats.DegenerateDataWarning)
        result = stats.bootstrap(
            tuple(np.arange(n) for n in samples),
            statistic,
            n_resamples=settings.resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            vectorized=True,
            batch=max(1, 2_000_000 // max(samples)),
            rng=np.random.default_rng(settings.seed))
    low, high = result.confidence_interval
    distribution = result.bootstrap_distribution
    bounds, fallback = {}, []
    tail = (1 - settings.confidence) / 2 * 100
    for row, metric in enumerate(metrics):
        if np.isfinite(low[row]) and np.isfinite(high[row]):
            bounds[metric] = (float(low[row]), float(high[row]))
        elif np.ptp(distribution[row]) <= 1e-12:  # every resample alike
            value = float(distribution[row][0])
            bounds[metric] = (value, value)
        else:
            fallback.append(metric)
            bounds[metric] = tuple(
                float(v)
                for v in np.percentile(distribution[row], [tail, 100 - tail]))
    return bounds, fallback


def summary_intervals(
        inputs: Dict[str, Inputs],
        settings: BootstrapSettings = BootstrapSettings(),
        minus: Optional[Dict[str, Inputs]] = None) -> Optional[Intervals]:
    """Intervals of each set's scores and of the mean row over the sets.

    Args:
        inputs (dict): Set name -> its per-image metric inputs
            (:func:`~.polyp_scores.metric_inputs`, or any ``{metric: (N,)
            per-image values}`` whose set value is their mean).
        settings (BootstrapSettings): How; ``resamples=0``: None.
        minus (dict, optional): Another model's inputs of the same images:
            the intervals are then of the paired difference.

    Returns:
        Intervals | None: The mean row resamples each set on its own (the
        sets are independent samples).
    """
    if not settings.enabled:
        return None
    scorers = OrderedDict(
        (name,
         scorer(own) if minus is None else difference_scorer(own, minus[name]))
        for name, own in inputs.items())
    counts = {
        name: len(next(iter(own.values())))
        for name, own in inputs.items()
    }
    metrics = list(next(iter(inputs.values())))
    bounds, fallback = OrderedDict(), []
    rows = [(name, [name]) for name in scorers] + [(MEAN_ROW, list(scorers))]
    for row, members in rows:
        row_bounds, row_fallback = bootstrap_bounds(
            [counts[m] for m in members],
            mean_statistic([scorers[m] for m in members]), settings, metrics)
        bounds[row] = row_bounds
        fallback += [f'{row}/{metric}' for metric in row_fallback]
    return Intervals(bounds, settings, fallback)


def score_intervals(
    scores: Sequence[dict], settings: BootstrapSettings = BootstrapSettings()
) -> Optional[Intervals]:
    """Intervals of every metric of
    :func:`~ssformer_mmseg.evaluation.polyp_scores.summarise`'s rows
    (per-image scores of :func:`~.polyp_scores.score_image`); None with
    ``resamples=0``."""
    if not settings.enabled:
        return None
    return summary_intervals(_inputs_by_set(scores), settings)


def difference_intervals(
    scores: Sequence[dict],
    reference_scores: Sequence[dict],
    settings: BootstrapSettings = BootstrapSettings()
) -> Optional[Intervals]:
    """Paired intervals of ``scores`` minus ``reference_scores`` per
    summary row: two models' per-image scores of the same images, in the
    same order.

    Raises:
        ValueError: If the two do not name the same images in order.
    """
    keys = [(s['dataset'], s['name']) for s in scores]
    if keys != [(s['dataset'], s['name']) for s in reference_scores]:
        raise ValueError('paired intervals need both models\' scores of the '
                         'same images in the same order')
    if not settings.enabled:
        return None
    return summary_intervals(
        _inputs_by_set(scores), settings, _inputs_by_set(reference_scores))


def _inputs_by_set(scores: Sequence[dict]) -> Dict[str, Inputs]:
    return OrderedDict((name, metric_inputs(group))
                       for name, group in group_by_set(scores).items())


def format_bounds(bounds: Bounds,
                  digits: int = 4,
                  signed: bool = False) -> str:
    """``'0.7512–0.8321'`` (``signed``, for differences: ``'-0.0120 to
    +0.0040'``), or ``'–'`` where undefined."""
    if not all(np.isfinite(bounds)):
        return '–'
    if signed:
        return f'{bounds[0]:+.{digits}f} to {bounds[1]:+.{digits}f}'
    return f'{bounds[0]:.{digits}f}–{bounds[1]:.{digits}f}'
