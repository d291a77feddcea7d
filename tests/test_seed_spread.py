"""One recipe, several seeds: the spread table by hand, and the tool end to
end (train, test, tabulate; a finished seed is not trained again; the runs'
maps compare with tools/compare_models.py)."""
import csv
import json
import os.path as osp

import numpy as np
import pytest

from ssformer_mmseg.engine.seed_spread import (TWO_RUN_FACTOR, SeedRun,
                                               format_spread, last_checkpoint,
                                               spread, write_spread)


def _runs() -> list:
    return [
        SeedRun(0, 'w/seed_0', {
            'Kvasir/meanDic': 0.70,
            'Kvasir/mDice': 0.6,
            'time': 1.0
        }),
        SeedRun(1, 'w/seed_1', {
            'Kvasir/meanDic': 0.74,
            'Kvasir/mDice': 0.7
        }),
        SeedRun(2, 'w/seed_2', {
            'Kvasir/meanDic': 0.66,
            'Kvasir/mDice': 0.5
        }),
    ]


def test_spread_by_hand():
    table = spread(_runs())
    assert list(table) == ['Kvasir/meanDic', 'Kvasir/mDice']  # no 'time'
    meandic = table['Kvasir/meanDic']
    assert meandic['mean'] == pytest.approx(0.70)
    assert meandic['std'] == pytest.approx(0.04)  # sample std of ±0.04, 0
    assert (meandic['min'], meandic['max'], meandic['runs']) == (0.66, 0.74, 3)
    assert meandic["two_run_gap"] == pytest.approx(
        0.04 * 1.959964 * 2**0.5, rel=1e-5)
    assert TWO_RUN_FACTOR == pytest.approx(2.7718, abs=1e-4)
    one = spread(_runs()[:1])['Kvasir/meanDic']
    assert np.isnan(one['std'])


def test_format_and_files(tmp_path):
    text = format_spread(_runs())
    assert '| seed 1 | 0.7400 | 0.7000 |' in text
    assert '| mean ± std | 0.7000 ± 0.0400 | 0.6000 ± 0.1000 |' in text
    assert '| range | 0.6600–0.7400 | 0.5000–0.7000 |' in text
    files = write_spread(_runs(), str(tmp_path))
    rows = list(csv.reader(open(files[1])))
    assert rows[0] == ['row', 'Kvasir/meanDic', 'Kvasir/mDice']
    assert [r[0] for r in rows[1:]] == [
        'seed 0', 'seed 1', 'seed 2', 'mean', 'std', 'min', 'max',
        'two_run_gap'
    ]
    saved = json.load(open(files[2]))
    assert [r['seed'] for r in saved['runs']] == [0, 1, 2]


@pytest.mark.slow
def test_the_tool_trains_tests_and_tabulates(tmp_path, run_tool,
                                             make_kvasir_like,
                                             tiny_cli_options):
    data = make_kvasir_like(tmp_path / 'data', num_train=2, num_test=2)
    loaders = [
        f'{name}.{key}'
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        for key in ('num_workers=0', 'persistent_workers=False')
    ]
    options = [
        f'data_root={data}', *tiny_cli_options, *loaders,
        'train_dataloader.batch_size=2', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2'
    ]
    work = tmp_path / 'spread'
    command = [
        'tools/seed_spread.py', 'configs/ssformer_s_kvasir.py', '--seeds', '0',
        '1', '--work-dir',
        str(work), '--cfg-options', *options
    ]
    first = run_tool(*command, timeout=900)
    assert first.code == 0, first.output[-3000:]
    saved = json.load(open(work / 'seed_spread.json'))
    assert [r['seed'] for r in saved['runs']] == [0, 1]
    scores = [r['scores']['Kvasir/meanDic'] for r in saved['runs']]
    assert saved['spread']['Kvasir/meanDic']['mean'] == pytest.approx(
        np.mean(scores))
    # Each run has its own seed, its checkpoint, its test maps and scores.
    for seed in (0, 1):
        run = work / f'seed_{seed}'
        assert f"'seed': {seed}" in open(run / 'train.log').read() or \
            f'seed: {seed}' in open(run / 'train.log').read()
        assert last_checkpoint(str(run)) == str(run / 'iter_2.pth')
        assert len(list((run / 'test' / 'maps' / 'Kvasir').iterdir())) == 2
        assert osp.isfile(run / 'test' / 'scores.json')
    assert '| seed 0 |' in first.stdout and 'mean ± std' in first.stdout
    # Run again: nothing is trained again, the tables come back the same.
    again = run_tool(*command, timeout=900)
    assert again.code == 0, again.output[-3000:]
    assert again.stdout.count('trained already') == 2
    assert json.load(open(work / 'seed_spread.json'))['spread'] == \
        saved['spread']
    # The two seeds' maps compare on the same images.
    compared = run_tool('tools/compare_models.py',
                        work / 'seed_0' / 'test' / 'maps',
                        work / 'seed_1' / 'test' / 'maps', '--out',
                        tmp_path / 'compared', '--bootstrap-resamples', '200')
    assert compared.code == 0, compared.output[-3000:]
    assert 'Kvasir (2 images)' in compared.stdout


def test_a_failing_run_names_its_log(tmp_path, run_tool):
    result = run_tool('tools/seed_spread.py', 'configs/ssformer_s_kvasir.py',
                      '--seeds', '0', '--work-dir', tmp_path / 'w',
                      '--cfg-options', f'data_root={tmp_path / "nothing"}')
    assert result.code == 1
    assert 'tools/train.py exited with' in result.stderr
    assert str(tmp_path / 'w' / 'seed_0' / 'train.log') in result.stderr
