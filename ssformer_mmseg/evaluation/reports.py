"""Reports of a scored run: the table of every test set with its
confidence intervals, the scores as CSV and JSON, the per-image CSV and
the Dice-against-threshold plot."""
import csv
import json
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..visualization.plots import plot_dice_curves
from .intervals import (BootstrapSettings, Intervals, format_bounds,
                        score_intervals)
from .polyp_scores import (MEAN_ROW, METRIC_NAMES, group_by_set,
                           per_image_values, summarise)
from .run_folder import (CURVES_CSV, CURVES_PNG, PER_IMAGE_CSV, SCORES_CSV,
                         SCORES_JSON)

#: The thresholds of the 256-point curves: 255/255 down to 0/255.
CURVE_THRESHOLDS = np.arange(255, -1, -1) / 255


def format_table(summary: Dict[str, Dict[str, float]],
                 counts: Dict[str, int],
                 intervals: Optional[Intervals] = None) -> str:
    """The summary as a text table, a row per test set plus the mean, each
    followed by its confidence intervals' row when ``intervals`` are
    given (their method under the table)."""
    from prettytable import PrettyTable
    table = PrettyTable(['test set', 'images', *METRIC_NAMES])
    table.title = 'Polyp segmentation, per-image means (0-1 scale)'
    for name, row in summary.items():
        images = counts.get(name, sum(counts.values()))
        table.add_row([name, images, *(f'{row[m]:.4f}' for m in METRIC_NAMES)])
        if intervals is not None:
            level = f'{intervals.settings.confidence:.0%} CI'
            table.add_row([
                f'  {level}', '', *(format_bounds(intervals.bounds[name][m], 3)
                                    for m in METRIC_NAMES)
            ])
    text = table.get_string()
    if intervals is not None:
        text += '\nCI: ' + intervals.describe()
    return text


@dataclass
class ScoreReport:
    """A scored run's summary, image counts and intervals.

    Attributes:
        summary (dict): :func:`~.polyp_scores.summarise`'s rows.
        counts (dict): Images per test set.
        intervals (Intervals, optional): None when turned off.
    """
    summary: Dict[str, Dict[str, float]]
    counts: Dict[str, int]
    intervals: Optional[Intervals]

    @classmethod
    def of(
        cls,
        scores: Sequence[dict],
        settings: BootstrapSettings = BootstrapSettings()
    ) -> 'ScoreReport':
        """Summarise per-image scores, with intervals under ``settings``."""
        return cls(
            summarise(scores),
            {k: len(v)
             for k, v in group_by_set(scores).items()},
            score_intervals(scores, settings))

    def table(self) -> str:
        """:func:`format_table` of this report."""
        return format_table(self.summary, self.counts, self.intervals)

    def as_dict(self) -> dict:
        """``{'intervals': method or None, 'sets': {set: {'images': n,
        'scores': {metric: {'value', 'ci_low', 'ci_high'}}}}}``; bounds
        are None where undefined or turned off."""
        sets = {}
        for name, row in self.summary.items():
            entry = {}
            for metric, value in row.items():
                bounds = (np.nan, np.nan) if self.intervals is None else \
                    self.intervals.bounds[name][metric]
                entry[metric] = dict(
                    value=value,
                    ci_low=_finite_or_none(bounds[0]),
                    ci_high=_finite_or_none(bounds[1]))
            sets[name] = dict(
                images=self.counts.get(name, sum(self.counts.values())),
                scores=entry)
        method = None
        if self.intervals is not None:
            method = dict(
                self.intervals.settings.as_dict(),
                percentile_fallback=self.intervals.percentile_fallback)
        return dict(intervals=method, sets=sets)

    @classmethod
    def read(cls, out_dir: str) -> 'ScoreReport':
        """The report :meth:`write` left in ``out_dir`` (``scores.json``).

        Raises:
            FileNotFoundError: If there is none.
        """
        with open(osp.join(out_dir, SCORES_JSON)) as f:
            saved = json.load(f)
        summary, counts, bounds = OrderedDict(), {}, OrderedDict()
        for name, entry in saved['sets'].items():
            scores = entry['scores']
            summary[name] = OrderedDict(
                (m, v['value']) for m, v in scores.items())
            bounds[name] = {
                m: tuple(np.nan if v[k] is None else v[k]
                         for k in ('ci_low', 'ci_high'))
                for m, v in scores.items()
            }
            if name != MEAN_ROW:
                counts[name] = entry['images']
        method = saved['intervals']
        intervals = None
        if method is not None:
            settings = BootstrapSettings(
                **{
                    k: method[k]
                    for k in ('resamples', 'confidence', 'seed', 'method')
                })
            intervals = Intervals(bounds, settings,
                                  method['percentile_fallback'])
        return cls(summary, counts, intervals)

    def write(self, out_dir: str) -> List[str]:
        """Write ``scores.json`` and ``scores.csv`` (one row per set and
        metric: value, interval) to ``out_dir``; returns the files."""
        os.makedirs(out_dir, exist_ok=True)
        report = self.as_dict()
        json_path = osp.join(out_dir, SCORES_JSON)
        with open(json_path, 'w') as f:
            json.dump(report, f, indent=2)
        csv_path = osp.join(out_dir, SCORES_CSV)
        with open(csv_path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(
                ['test_set', 'images', 'metric', 'value', 'ci_low', 'ci_high'])
            for name, entry in report['sets'].items():
                for metric, value in entry['scores'].items():
                    writer.writerow([
                        name, entry['images'], metric,
                        *('' if v is None else f'{v:.6f}'
                          for v in value.values())
                    ])
        return [json_path, csv_path]


def _finite_or_none(value: float) -> Optional[float]:
    return float(value) if np.isfinite(value) else None


def write_per_image_csv(scores: Sequence[dict], path: str) -> None:
    """One row per image: set, image, every per-image metric.

    The toolbox metrics are given per image as the mean / max of that
    image's own curve (the table's ``meanDic`` etc. average curves first).
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    values = per_image_values(scores)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['test_set', 'image', *values])
        for row, s in enumerate(scores):
            writer.writerow([
                s['dataset'], s['name'],
                *(f'{column[row]:.6f}' for column in values.values())
            ])


def mean_dice_curves(scores: Sequence[dict]) -> Dict[str, np.ndarray]:
    """Each test set's mean Dice per threshold (256 points, threshold 1
    down to 0, as :data:`CURVE_THRESHOLDS`)."""
    return {
        name: np.mean([s['dice_curve'] for s in group], axis=0)
        for name, group in group_by_set(scores).items()
    }


def plot_dice_vs_threshold(scores: Sequence[dict], path: str) -> None:
    """PNG of the mean Dice against the threshold, one line per test set."""
    plot_dice_curves(mean_dice_curves(scores), path)


def write_dice_curves_csv(scores: Sequence[dict], path: str) -> None:
    """The curves of :func:`mean_dice_curves` as a table: a threshold
    column and one column per test set."""
    curves = mean_dice_curves(scores)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['threshold', *curves])
        for row, threshold in enumerate(CURVE_THRESHOLDS):
            writer.writerow([
                f'{threshold:.6f}',
                *(f'{curve[row]:.6f}' for curve in curves.values())
            ])


def write_report(scores: Sequence[dict],
                 out_dir: str,
                 report: Optional[ScoreReport] = None) -> List[str]:
    """Write ``per_image.csv``, ``dice_vs_threshold.{png,csv}`` and
    ``scores.{json,csv}`` to ``out_dir``.

    Args:
        scores (Sequence[dict]): Per-image scores.
        out_dir (str): Where.
        report (ScoreReport, optional): The scores' summary with intervals
            when already computed; default: computed with the default
            :class:`~.intervals.BootstrapSettings`.

    Returns:
        list[str]: The written files.
    """
    files = [
        osp.join(out_dir, name)
        for name in (PER_IMAGE_CSV, CURVES_PNG, CURVES_CSV)
    ]
    write_per_image_csv(scores, files[0])
    plot_dice_vs_threshold(scores, files[1])
    write_dice_curves_csv(scores, files[2])
    report = report or ScoreReport.of(scores)
    return files + report.write(out_dir)


def report_scores(scores: Sequence[dict],
                  report_dir: str,
                  settings: BootstrapSettings = BootstrapSettings(),
                  log: Callable[[str], None] = print) -> ScoreReport:
    """What a scoring tool ends with: the table (with intervals) to
    ``log``, every report file written to ``report_dir`` and named.

    Returns:
        ScoreReport: The summary, counts and intervals.
    """
    report = ScoreReport.of(scores, settings)
    log(report.table())
    for path in write_report(scores, report_dir, report):
        log(f'wrote {path}')
    return report
