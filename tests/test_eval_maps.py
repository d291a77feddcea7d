"""tools/eval_maps.py: scoring saved maps without a model."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.evaluation.polyp_scores import (score_image, summarise,
                                                    to_uint8_map)
from ssformer_mmseg.evaluation.saved_maps import ground_truth, score_saved_maps

CONFIG = osp.join(REPO_ROOT, 'configs', 'ssformer_s_pranet.py')
SETS = {'kvasir-seg': 'Kvasir', 'cvc-clinicdb': 'CVC-ClinicDB'}


@pytest.fixture
def data(tmp_path):
    """A data root with two small test sets, PraNet split files, and maps."""
    rng = np.random.default_rng(0)
    root, maps = tmp_path / 'data', tmp_path / 'maps'
    expected = []
    for folder, name in SETS.items():
        stems = [f'{folder[:3]}{i}' for i in range(3)]
        for sub in ('images', 'masks'):
            os.makedirs(root / folder / sub)
        os.makedirs(maps / name)
        for i, stem in enumerate(stems):
            gt = np.zeros((30, 40), np.uint8)
            gt[5 + i:20, 10:30 - i] = 255
            cv2.imwrite(
                str(root / folder / 'images' / f'{stem}.png'),
                rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
            cv2.imwrite(str(root / folder / 'masks' / f'{stem}.png'), gt)
            prob = np.clip(gt / 255 * 0.7 + rng.random(gt.shape) * 0.3, 0, 1)
            cv2.imwrite(str(maps / name / f'{stem}.png'), to_uint8_map(prob))
            expected.append(
                score_image(
                    to_uint8_map(prob), gt > 0, dataset=name, name=stem))
        split = 'kvasir' if name == 'Kvasir' else 'clinicdb'
        os.makedirs(root / 'splits' / 'pranet', exist_ok=True)
        (root / 'splits' / 'pranet' / f'{split}_test.txt').write_text(
            '\n'.join(stems))
    return root, maps, expected


def run(root, maps, sets=('Kvasir', 'CVC-ClinicDB')):
    """What tools/eval_maps.py computes: the summary of the saved maps."""
    cfg = load_config(CONFIG, dict(data_root=str(root)))
    return summarise(score_saved_maps(str(maps), ground_truth(cfg, sets)))


def run_tool(root, maps, *extra):
    return subprocess.run([
        sys.executable, 'tools/eval_maps.py',
        str(maps), CONFIG, '--report-dir',
        str(maps.parent / 'report'), '--cfg-options', f'data_root={root}',
        *extra
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)


def test_scores_saved_maps_like_the_metric(data):
    root, maps, expected = data
    assert run(root, maps) == summarise(expected)


@pytest.mark.subprocess
def test_tool_prints_the_table_and_writes_the_report(data):
    root, maps, expected = data
    result = run_tool(root, maps, '--sets', 'Kvasir,CVC-ClinicDB')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'Kvasir' in out and 'CVC-ClinicDB' in out and '0-1 scale' in out
    mean_dic = summarise(expected)['Kvasir']['meanDic']
    assert f'{mean_dic:.4f}' in out
    assert f'scored {len(expected)}/{len(expected)} maps' in out
    report = maps.parent / 'report'
    assert (report / 'per_image.csv').read_text().count('\n') == 7
    assert cv2.imread(str(report / 'dice_vs_threshold.png')) is not None
    assert f'wrote {report / "per_image.csv"}' in out


def test_colour_maps_are_read_as_grey(data):
    root, maps, expected = data
    for name in SETS.values():
        for file in os.listdir(maps / name):
            grey = cv2.imread(str(maps / name / file), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(
                str(maps / name / file), cv2.cvtColor(grey,
                                                      cv2.COLOR_GRAY2BGR))
    assert run(root, maps) == summarise(expected)


def test_missing_maps_are_all_named(data):
    root, maps, _ = data
    os.remove(maps / 'Kvasir' / 'kva1.png')
    os.remove(maps / 'CVC-ClinicDB' / 'cvc2.png')
    with pytest.raises(PolypFileError, match='2 prediction maps missing') \
            as info:
        run(root, maps)
    assert osp.join('Kvasir', 'kva1.png') in str(info.value)
    assert osp.join('CVC-ClinicDB', 'cvc2.png') in str(info.value)


def test_size_mismatch_names_both_files(data):
    root, maps, _ = data
    path = maps / 'Kvasir' / 'kva0.png'
    cv2.imwrite(str(path), np.zeros((31, 40), np.uint8))
    with pytest.raises(
            PolypFileError,
            match='map is 40x31 but its ground '
            r'truth .*kva0\.png is 40x30') as info:
        run(root, maps)
    assert info.value.path == str(path)


def test_unreadable_map_is_named(data):
    root, maps, _ = data
    path = maps / 'CVC-ClinicDB' / 'cvc0.png'
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + b'broken' * 20)
    with pytest.raises(PolypFileError) as info:
        run(root, maps)
    assert info.value.path == str(path)


def test_missing_ground_truth_is_named(data):
    root, maps, _ = data
    os.remove(root / 'kvasir-seg' / 'masks' / 'kva2.png')
    with pytest.raises(PolypFileError, match='images without mask') as info:
        run(root, maps)
    assert 'kva2.png' in str(info.value)


@pytest.mark.subprocess
def test_unknown_test_set_is_refused(data):
    root, maps, _ = data
    with pytest.raises(ValueError, match='test sets not in .*: Nope'):
        run(root, maps, sets=['Nope'])
    result = run_tool(root, maps, '--sets', 'Nope')
    assert result.returncode == 1
    assert 'error: test sets not in' in result.stderr
    assert 'Nope' in result.stderr
    assert 'Traceback' not in result.stderr
