"""Bootstrap intervals of every score: against SciPy called directly, hand-
checked small cases, determinism, the reports that show them."""
import csv
import json

import numpy as np
import pytest
from scipy import stats

from ssformer_mmseg.evaluation import intervals
from ssformer_mmseg.evaluation.intervals import BootstrapSettings, scorer
from ssformer_mmseg.evaluation.polyp_scores import (MEAN_ROW, METRIC_NAMES,
                                                    metric_inputs, summarise)
from ssformer_mmseg.evaluation.reports import ScoreReport, format_table
from synthetic_scores import synthetic_scores

SMALL = BootstrapSettings(resamples=2000, seed=3)


def _batch(images: int) -> int:
    # The batch bootstrap_bounds uses: equal batches, equal resamples.
    return max(1, 2_000_000 // images)


def test_resample_weights_count_the_draws():
    weights = intervals.resample_weights(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    np.testing.assert_allclose(weights, [[2 / 3, 0, 1 / 3], [0, 1 / 3, 2 / 3]])
    # Leading dimensions are flattened into rows.
    assert intervals.resample_weights(np.zeros((2, 5, 4), int),
                                      7).shape == (10, 7)


@pytest.mark.parametrize('metric', ['mDice', 'meanDic', 'Sm', 'MAE'])
def test_a_mean_metric_matches_scipy_on_its_per_image_values(metric):
    scores = synthetic_scores(40, 'Kvasir', seed=1)
    ours = intervals.score_intervals(scores, SMALL).bounds['Kvasir'][metric]
    values = metric_inputs(scores)[metric]
    direct = stats.bootstrap((values, ),
                             np.mean,
                             n_resamples=SMALL.resamples,
                             batch=_batch(len(values)),
                             rng=np.random.default_rng(SMALL.seed))
    np.testing.assert_allclose(
        ours, tuple(direct.confidence_interval), atol=1e-9)


@pytest.mark.parametrize('metric,curve', [('maxDic', 'dice_curve'),
                                          ('maxEm', 'em_curve')])
def test_a_max_metric_is_resampled_through_its_curves(metric, curve):
    scores = synthetic_scores(30, 'Kvasir', seed=2)
    curves = np.array([s[curve] for s in scores])

    def max_of_mean_curve(indices):
        return curves[indices].mean(axis=0).max()

    ours = intervals.score_intervals(scores, SMALL).bounds['Kvasir'][metric]
    direct = stats.bootstrap((np.arange(len(scores)), ),
                             max_of_mean_curve,
                             vectorized=False,
                             n_resamples=SMALL.resamples,
                             batch=_batch(len(scores)),
                             rng=np.random.default_rng(SMALL.seed))
    np.testing.assert_allclose(
        ours, tuple(direct.confidence_interval), atol=1e-9)
    # The per-image maxima would give another (higher) interval.
    per_image_max = curves.max(axis=1)
    assert per_image_max.mean() > summarise(scores)['Kvasir'][metric] + 0.01
    assert ours[1] < per_image_max.mean()


def test_the_mean_row_resamples_each_set_on_its_own():
    kvasir = synthetic_scores(25, 'Kvasir', seed=4)
    clinic = synthetic_scores(15, 'CVC-ClinicDB', seed=5, level=0.5)
    ours = intervals.score_intervals(kvasir + clinic,
                                     SMALL).bounds[MEAN_ROW]['mDice']
    a = np.array([s['dice'] for s in kvasir])
    b = np.array([s['dice'] for s in clinic])
    direct = stats.bootstrap((a, b),
                             lambda x, y: (np.mean(x) + np.mean(y)) / 2,
                             vectorized=False,
                             n_resamples=SMALL.resamples,
                             batch=_batch(len(a)),
                             rng=np.random.default_rng(SMALL.seed))
    np.testing.assert_allclose(
        ours, tuple(direct.confidence_interval), atol=1e-9)


def test_hand_checked_cases():
    # Two images scoring 0 and 1: a resampled mean is 0, 1/2 or 1 with
    # probabilities 1/4, 1/2, 1/4, so the 95 % percentile interval is 0-1.
    inputs = {'s': {'dice': np.array([0.0, 1.0])}}
    percentile = BootstrapSettings(resamples=4000, method='percentile')
    bounds = intervals.summary_intervals(inputs,
                                         percentile).bounds['s']['dice']
    assert bounds == (0.0, 1.0)
    # Every image alike: the interval is the value itself (SciPy's BCa is
    # undefined there).
    inputs = {'s': {'dice': np.full(10, 0.25)}}
    assert intervals.summary_intervals(
        inputs).bounds['s']['dice'] == pytest.approx((0.25, 0.25), abs=1e-15)
    # One image: nothing to resample.
    bounds = intervals.summary_intervals({
        's': {
            'dice': np.array([0.5])
        }
    }).bounds
    assert all(np.isnan(bounds['s']['dice']))
    assert intervals.format_bounds(bounds['s']['dice']) == '–'
    assert intervals.format_bounds((0.1, 0.25)) == '0.1000–0.2500'


def test_the_interval_brackets_the_score_and_narrows_with_more_images():
    small = synthetic_scores(20, 'Kvasir', seed=6)
    large = synthetic_scores(320, 'Kvasir', seed=6)
    widths = []
    for scores in (small, large):
        summary = summarise(scores)['Kvasir']
        bounds = intervals.score_intervals(scores, SMALL).bounds['Kvasir']
        for metric in METRIC_NAMES:
            assert bounds[metric][0] <= summary[metric] <= bounds[metric][1]
        widths.append(bounds['meanDic'][1] - bounds['meanDic'][0])
    # Width ~ 1 / sqrt(n): 16x the images, about a quarter of the width.
    assert widths[1] < widths[0] / 2.5


def test_a_seed_gives_the_same_intervals_and_another_seed_others():
    scores = synthetic_scores(30, 'Kvasir', seed=7)
    first = intervals.score_intervals(scores, SMALL).bounds
    assert intervals.score_intervals(scores, SMALL).bounds == first
    other = intervals.score_intervals(scores, BootstrapSettings(2000,
                                                                seed=4)).bounds
    assert other['Kvasir']['meanDic'] != first['Kvasir']['meanDic']
    assert intervals.score_intervals(scores,
                                     BootstrapSettings(resamples=0)) is None


def test_paired_difference_intervals():
    scores = synthetic_scores(40, 'Kvasir', seed=8)
    # The same model against itself: exactly zero, whatever is resampled.
    same = intervals.difference_intervals(scores, scores,
                                          SMALL).bounds['Kvasir']
    assert all(same[m] == (0.0, 0.0) for m in METRIC_NAMES)
    # A constant per-image shift of every scalar moves the interval by it.
    shifted = [dict(s, dice=s['dice'] + 0.05) for s in scores]
    bounds = intervals.difference_intervals(shifted, scores,
                                            SMALL).bounds['Kvasir']
    np.testing.assert_allclose(bounds['mDice'], (0.05, 0.05), atol=1e-12)
    with pytest.raises(ValueError, match='same images'):
        intervals.difference_intervals(scores[1:], scores[:-1], SMALL)


def test_bootstrap_bounds_falls_back_to_the_percentile_interval():

    def statistic(indices, axis=-1):
        # Image 0 drawn twice or more: no leave-one-out sample has it twice
        # (so BCa's acceleration is 0 / 0), about a quarter of resamples do.
        return ((indices == 0).sum(axis=-1) >= 2).astype(float)[None]

    bounds, fallback = intervals.bootstrap_bounds([5], statistic, SMALL, ['x'])
    assert fallback == ['x']
    assert bounds['x'] == (0.0, 1.0)


def test_report_files_and_table_carry_the_intervals(tmp_path):
    scores = synthetic_scores(
        12, 'Kvasir', seed=9) + synthetic_scores(
            8, 'CVC-300', seed=10)
    report = ScoreReport.of(scores, SMALL)
    files = report.write(str(tmp_path))
    saved = json.load(open(files[0]))
    assert saved['intervals']['resamples'] == 2000
    assert 'BCa' in saved['intervals']['description']
    entry = saved['sets']['Kvasir']
    assert entry['images'] == 12
    meandic = entry['scores']['meanDic']
    assert meandic['value'] == pytest.approx(
        report.summary['Kvasir']['meanDic'])
    assert (meandic['ci_low'], meandic['ci_high']) == pytest.approx(
        report.intervals.bounds['Kvasir']['meanDic'])
    rows = list(csv.DictReader(open(files[1])))
    assert len(rows) == 3 * len(METRIC_NAMES)  # two sets and the mean
    row = next(
        r for r in rows if (r['test_set'], r['metric']) == ('mean', 'MAE'))
    assert row['images'] == '20'
    assert float(row['ci_low']) <= float(row['value']) <= float(row['ci_high'])
    text = report.table()
    assert text.count('95% CI') == 3 and 'scipy.stats.bootstrap' in text
    # Read back: the same table.
    assert ScoreReport.read(str(tmp_path)).table() == text
    # Off: no interval rows, and the files say so.
    off = ScoreReport.of(scores, BootstrapSettings(resamples=0))
    assert 'CI' not in off.table()
    assert off.as_dict()['intervals'] is None
    assert off.as_dict()['sets']['Kvasir']['scores']['mDice']['ci_low'] is None
    assert format_table(off.summary, off.counts) == off.table()


def test_mean_statistic_averages_scorers():
    a = {'m': np.array([0.0, 1.0])}
    b = {'m': np.array([1.0, 1.0, 1.0])}
    statistic = intervals.mean_statistic([scorer(a), scorer(b)])
    value = statistic(np.array([0, 1]), np.array([0, 1, 2]))
    np.testing.assert_allclose(value, [0.75])


def test_the_test_tools_bootstrap_options_reach_the_metric(tiny_config):
    import argparse

    from ssformer_mmseg.cli import add_bootstrap_arguments, bootstrap_settings
    from ssformer_mmseg.engine import runs
    parser = argparse.ArgumentParser()
    add_bootstrap_arguments(parser)
    args = parser.parse_args(
        ['--bootstrap-resamples', '123', '--bootstrap-seed', '5'])
    tiny_config.work_dir = 'work'
    runs.test_config(
        tiny_config, 'weights.pth', bootstrap=bootstrap_settings(args))
    assert tiny_config.test_evaluator['bootstrap_resamples'] == 123
    assert tiny_config.test_evaluator['bootstrap_seed'] == 5
    with pytest.raises(SystemExit):
        parser.parse_args(['--bootstrap-resamples', '-1'])
    defaults = bootstrap_settings(parser.parse_args([]))
    assert defaults == BootstrapSettings()
