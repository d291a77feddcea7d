"""Accuracy of a deployed model: PolypMetric on the test sets, for the
engine and for the fp32 PyTorch model it came from, and the difference."""
from typing import Callable, List, Optional, Sequence

import torch

from ..datasets.polyp_files import read_image, read_mask
from ..evaluation.intervals import (BootstrapSettings, difference_intervals,
                                    format_bounds, score_intervals)
from ..evaluation.polyp_metric import PolypMetric
from ..evaluation.polyp_scores import MEAN_ROW, group_by_set, summarise

#: The bound a deployed precision must keep: |ΔmeanDic| and |ΔmDice|.
ACCURACY_BOUND = 0.005
#: The metrics the bound applies to.
BOUNDED_METRICS = ('meanDic', 'mDice')
#: The metrics the report shows per set.
REPORTED_METRICS = ('meanDic', 'mDice', 'mIoU', 'wFm', 'Sm', 'meanEm', 'MAE')


def score_segmenter(
        segmenter,
        samples: Sequence[dict],
        progress: Optional[Callable[[int, int], None]] = None) -> List[dict]:
    """Per-image scores of a segmenter's maps, computed by PolypMetric.

    Args:
        segmenter (PolypSegmenter): Any backend.
        samples (Sequence[dict]): From
            :func:`~ssformer_mmseg.evaluation.saved_maps.ground_truth`.
        progress (Callable, optional): ``progress(done, total)``.
    """
    # A prefix only names compute_metrics' keys; set, mmengine stays quiet.
    metric = PolypMetric(threshold=segmenter.threshold, prefix='polyp')
    for done, sample in enumerate(samples, 1):
        prob, = segmenter([read_image(sample['img_path'])])
        gt = read_mask(sample['seg_map_path'])
        metric.process({}, [
            dict(
                img_path=sample['img_path'],
                seg_map_path=sample['seg_map_path'],
                dataset_name=sample['dataset_name'],
                seg_logits=dict(data=torch.from_numpy(prob)[None]),
                gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))
        ])
        if progress is not None:
            progress(done, len(samples))
    return metric.results


def compare(
    engine_scores: Sequence[dict],
    reference_scores: Sequence[dict],
    bound: float = ACCURACY_BOUND,
    bootstrap: BootstrapSettings = BootstrapSettings()
) -> dict:
    """The accuracy report: per set, the engine's and the reference's
    summary (:data:`REPORTED_METRICS`), the differences, and whether
    |Δ| <= ``bound`` for :data:`BOUNDED_METRICS`; with ``bootstrap``
    resamples, each score's interval and the paired interval of each
    difference (``*_ci``: metric -> [low, high], the same images resampled
    for both models)."""
    engine, reference = summarise(engine_scores), summarise(reference_scores)
    intervals = dict(
        engine=score_intervals(engine_scores, bootstrap),
        reference=score_intervals(reference_scores, bootstrap),
        delta=difference_intervals(engine_scores, reference_scores, bootstrap))
    counts = {k: len(v) for k, v in group_by_set(engine_scores).items()}
    if len(reference) == 2:  # one set: its mean row repeats it
        reference.pop(MEAN_ROW)
    sets = {}
    for name in reference:
        delta = {
            m: engine[name][m] - reference[name][m]
            for m in REPORTED_METRICS
        }
        sets[name] = dict(
            images=counts.get(name, len(engine_scores)),  # or the mean row
            engine={m: engine[name][m]
                    for m in REPORTED_METRICS},
            reference={m: reference[name][m]
                       for m in REPORTED_METRICS},
            delta=delta,
            within_bound=all(abs(delta[m]) <= bound for m in BOUNDED_METRICS))
        if bootstrap.enabled:
            for key, found in intervals.items():
                sets[name][f'{key}_ci'] = {
                    m: list(found.bounds[name][m])
                    for m in REPORTED_METRICS
                }
    return dict(
        bound=bound,
        intervals=bootstrap.describe() if bootstrap.enabled else None,
        bounded_metrics=list(BOUNDED_METRICS),
        within_bound=all(s['within_bound'] for s in sets.values()),
        sets=sets)


def format_report(report: dict, engine_name: str) -> str:
    """The report as a Markdown table, one row per set and model; where
    the engine takes another input size than the reference, each model's
    size is in its name."""
    reference_name = 'PyTorch fp32'
    sizes = report.get('engine_input_size'), report.get('reference_input_size')
    if sizes[0] is not None and sizes[0] != sizes[1]:
        engine_name += ' at {}x{}'.format(*sizes[0])
        reference_name += ' at {}x{}'.format(*sizes[1])
    header = ['test set', 'images', 'model'] + list(REPORTED_METRICS)
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + ' --- |' * len(header),
    ]
    for name, entry in report['sets'].items():
        for label, key in ((reference_name, 'reference'),
                           (engine_name, 'engine'), ('Δ', 'delta')):
            fmt = '{:+.4f}' if key == 'delta' else '{:.4f}'
            values = [fmt.format(entry[key][m]) for m in REPORTED_METRICS]
            lines.append('| ' +
                         ' | '.join([name, str(entry['images']), label] +
                                    values) + ' |')
            if f'{key}_ci' in entry:
                bounds = [
                    format_bounds(
                        entry[f'{key}_ci'][m], signed=key == 'delta')
                    for m in REPORTED_METRICS
                ]
                lines.append('| ' + ' | '.join(['', '', '  CI'] + bounds) +
                             ' |')
    verdict = 'within' if report['within_bound'] else 'NOT within'
    lines.append('')
    lines.append(f'|ΔmeanDic| and |ΔmDice| {verdict} {report["bound"]} on '
                 'every set.')
    if report.get('intervals'):
        lines.append(f'CI: {report["intervals"]}; the Δ interval is paired '
                     '(the same resampled images for both models).')
    return '\n'.join(lines)
