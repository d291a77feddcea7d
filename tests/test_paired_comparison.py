"""Two models on the same images: a known shift is detected, none is not
(at about the stated rate, deterministically over fixed seeds), mismatched
image sets are refused, and the tool works on test-run and map folders."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from ssformer_mmseg.evaluation import paired_comparison as paired
from ssformer_mmseg.evaluation import run_folder
from ssformer_mmseg.evaluation.intervals import BootstrapSettings
from ssformer_mmseg.evaluation.paired_comparison import ImageSetMismatch
from ssformer_mmseg.evaluation.polyp_scores import score_image
from synthetic_scores import synthetic_scores

FAST = BootstrapSettings(resamples=1000, seed=0)
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _noisy(scores: list, seed: int, shift: float = 0.0) -> list:
    """Another model's scores of the same images: the same per-image
    difficulty, its own noise, and ``shift`` added to every score."""
    rng = np.random.default_rng(seed)
    out = []
    for s in scores:
        noise = rng.normal(0, 0.05)
        curve = np.clip(s['dice_curve'] + noise + shift, 0, 1)
        out.append(
            dict(
                s,
                dice=float(np.clip(s['dice'] + noise + shift, 0, 1)),
                iou=float(np.clip(s['iou'] + noise + shift, 0, 1)),
                dice_curve=curve,
                iou_curve=curve * 0.8))
    return out


def test_holm_by_hand():
    # Sorted 0.01, 0.03, 0.04 -> 3 * 0.01, 2 * 0.03, max(0.06, 1 * 0.04).
    assert paired.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert paired.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = paired.holm([0.02, float('nan')])
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1])


def test_wilcoxon_p_edge_cases():
    a = np.array([0.1, 0.2, 0.3])
    assert paired.wilcoxon_p(a, a) == 1.0
    assert np.isnan(paired.wilcoxon_p(a[:1], a[:1] + 1))


def test_a_known_shift_is_detected():
    base = synthetic_scores(80, 'Kvasir', seed=1)
    a = _noisy(base, seed=2)
    b = _noisy(base, seed=3, shift=0.04)
    comparison = paired.compare_scores(a, b, ('A', 'B'), FAST)
    difference = comparison.rows['Kvasir'].differences['meanDic']
    assert difference.difference == pytest.approx(0.04, abs=0.02)
    assert difference.ci_low > 0 and difference.interval_excludes_zero
    assert difference.p_value < 0.001
    # One set: no pooled row, and the adjustment changes nothing.
    assert list(comparison.rows) == ['Kvasir']
    assert difference.p_adjusted == difference.p_value


def test_no_shift_is_detected_at_about_the_stated_rate():
    # 200 null comparisons (fixed seeds, so the counts are deterministic):
    # at the 5 % level about 10 are false alarms. Too many: the interval or
    # the test is too narrow; none: too wide (a shift would go unseen).
    base = synthetic_scores(50, 'Kvasir', seed=4)
    by_interval = by_test = 0
    for trial in range(200):
        comparison = paired.compare_scores(
            _noisy(base, 1000 + trial), _noisy(base, 2000 + trial), ('A', 'B'),
            FAST)
        difference = comparison.rows['Kvasir'].differences['meanDic']
        by_interval += difference.interval_excludes_zero
        by_test += difference.p_value < 0.05
    assert 4 <= by_interval <= 18 and 4 <= by_test <= 18


def test_sets_are_adjusted_and_pooled():
    base = synthetic_scores(
        30, 'Kvasir', seed=5) + synthetic_scores(
            20, 'CVC-ClinicDB', seed=6)
    comparison = paired.compare_scores(
        _noisy(base, 7), _noisy(base, 8, shift=0.02), ('A', 'B'), FAST)
    assert list(
        comparison.rows) == ['Kvasir', 'CVC-ClinicDB', paired.POOLED_ROW]
    assert comparison.rows[paired.POOLED_ROW].images == 50
    raw = [
        comparison.rows[s].differences['mDice'].p_value
        for s in ('Kvasir', 'CVC-ClinicDB')
    ]
    adjusted = [
        comparison.rows[s].differences['mDice'].p_adjusted
        for s in ('Kvasir', 'CVC-ClinicDB')
    ]
    assert adjusted == pytest.approx(paired.holm(raw))
    worst = comparison.rows['Kvasir'].disagreements
    gaps = [abs(b - a) for _, _, a, b in worst]
    assert len(worst) == 10 and gaps == sorted(gaps, reverse=True)
    text = paired.format_comparison(comparison)
    assert 'Holm' in text and 'Wilcoxon' in text and '### pooled' in text
    meandic = comparison.rows['Kvasir'].differences['meanDic']
    resolution = (meandic.ci_high - meandic.ci_low) / 2
    assert meandic.resolution == pytest.approx(resolution)
    assert f'within about ±{resolution:.4f}' in text


def test_image_sets_that_differ_are_refused_naming_each_side():
    a = synthetic_scores(5, 'Kvasir', seed=9)
    b = [dict(s) for s in a[1:]] + [dict(a[0], name='extra')]
    with pytest.raises(ImageSetMismatch) as error:
        paired.compare_scores(a, b, ('ours', 'theirs'), FAST)
    message = str(error.value)
    assert 'theirs lacks 1: Kvasir/Kvasir_0' in message
    assert 'ours lacks 1: Kvasir/extra' in message


def _write_run(folder, truths: dict, maps: dict) -> None:
    """A test-run folder: maps and ground-truth copies."""
    for (name, stem), truth in truths.items():
        path = osp.join(folder, run_folder.ground_truth_file(name, stem))
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, truth)
    for (name, stem), prob in maps.items():
        path = osp.join(folder, run_folder.prob_map_file(name, stem))
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, prob)


def _masks_and_maps(count: int, seed: int, blur: int):
    rng = np.random.default_rng(seed)
    truths, maps = {}, {}
    for index in range(count):
        truth = np.zeros((48, 64), np.uint8)
        x, y = rng.integers(8, 40), rng.integers(8, 24)
        cv2.circle(truth, (int(x), int(y)), int(rng.integers(5, 12)), 255, -1)
        prob = cv2.GaussianBlur(truth, (0, 0), blur)
        key = ('Kvasir', f'case{index}')
        truths[key], maps[key] = truth, prob
    return truths, maps


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'compare_models', osp.join(REPO, 'tools', 'compare_models.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_test_run_folders_through_the_tool(tmp_path, capsys):
    truths, sharp = _masks_and_maps(12, seed=1, blur=1)
    _, blurred = _masks_and_maps(12, seed=1, blur=6)
    _write_run(tmp_path / 'sharp', truths, sharp)
    _write_run(tmp_path / 'blurred', truths, blurred)
    tool = _load_tool()
    out = tmp_path / 'out'
    code = tool.main([
        str(tmp_path / 'blurred'),
        str(tmp_path / 'sharp'), '--out',
        str(out), '--bootstrap-resamples', '500'
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert 'difference = sharp - blurred' in printed
    assert sorted(os.listdir(out)) == [
        'comparison.csv', 'comparison.json', 'comparison.md', 'comparison.png'
    ]
    saved = json.load(open(out / 'comparison.json'))
    kvasir = saved['rows']['Kvasir']
    assert kvasir['images'] == 12
    # The same scores as scoring each map directly.
    expected = np.mean([
        score_image(blurred[k], truths[k] > 0)['dice_curve'].mean()
        for k in truths
    ])
    assert kvasir['differences']['meanDic']['a'] == pytest.approx(expected)
    assert cv2.imread(str(out / 'comparison.png')) is not None


def test_the_tool_refuses_runs_of_other_images(tmp_path, capsys):
    truths, maps = _masks_and_maps(4, seed=2, blur=2)
    _write_run(tmp_path / 'a', truths, maps)
    fewer = {k: v for k, v in truths.items() if k[1] != 'case3'}
    _write_run(tmp_path / 'b', fewer, maps)
    tool = _load_tool()
    assert tool.main([str(tmp_path / 'a'), str(tmp_path / 'b')]) == 1
    assert 'b lacks 1: Kvasir/case3' in capsys.readouterr().err
    # Same names, another ground truth: not the same test.
    other = {k: np.roll(v, 5, axis=1) for k, v in truths.items()}
    _write_run(tmp_path / 'c', other, maps)
    with pytest.raises(ImageSetMismatch, match='ground truth of 4 images'):
        paired.compare_folders(str(tmp_path / 'a'), str(tmp_path / 'c'))
    with pytest.raises(SystemExit):
        tool.main([
            str(tmp_path / 'a'),
            str(tmp_path / 'a'), '--bootstrap-resamples', '0'
        ])
    assert 'needs --bootstrap-resamples > 0' in capsys.readouterr().err


def test_write_comparison_files(tmp_path):
    base = synthetic_scores(20, 'Kvasir', seed=11)
    comparison = paired.compare_scores(
        _noisy(base, 1), _noisy(base, 2), ('x', 'y'), FAST)
    files = paired.write_comparison(comparison, str(tmp_path))
    lines = open(files[1]).read().splitlines()
    assert lines[0].startswith('row,images,metric,a,b,difference,ci_low')
    assert len(lines) == 1 + 11
