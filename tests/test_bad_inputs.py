"""One sweep of bad inputs through every command-line entry point.

Each must exit non-zero with a message naming the offending file and leave
no output that could pass for a complete run. (The per-component tests
cover each kind of damage in depth; this proves the tools end to end.)
"""
import os

import cv2
import numpy as np
import pytest
import torch

CONFIG = 'configs/ssformer_s_kvasir.py'


def truncate(path) -> None:
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


def files_under(folder) -> list:
    return [
        os.path.join(root, name) for root, _, names in os.walk(folder)
        for name in names
    ] if os.path.isdir(folder) else []


@pytest.fixture(scope='module')
def run(run_tool):
    """``run(*command)``: exit code and output (stdout, then stderr) of
    ``python *command`` from the repository root."""

    def call(*command) -> tuple:
        result = run_tool(*command)
        return result.code, result.output

    return call


@pytest.fixture(scope='module')
def setup(tmp_path_factory, make_kvasir_like, make_tiny_config):
    """Tiny data (frame6 and frame7 are the test split) and a checkpoint of
    the tiny model (the tools get it through the tiny --cfg-options)."""
    from mmseg.registry import MODELS
    root = tmp_path_factory.mktemp('bad')
    make_kvasir_like(root / 'data', num_train=6, num_test=2)
    checkpoint = root / 'tiny.pth'
    torch.save(
        dict(
            state_dict=MODELS.build(make_tiny_config().model).state_dict(),
            meta=dict()), checkpoint)
    return root, checkpoint


def options(root, tiny_cli_options) -> list:
    return [
        '--cfg-options', f'data_root={root / "data"}', *tiny_cli_options,
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ]


@pytest.mark.slow
def test_test_tool_with_a_truncated_test_image(setup, run, make_kvasir_like,
                                               tiny_cli_options, tmp_path):
    root, checkpoint = setup
    data = tmp_path / 'data'
    make_kvasir_like(data, num_train=1, num_test=3)
    bad = data / 'kvasir-seg' / 'images' / 'frame3.png'  # the last one
    truncate(bad)
    maps, drawn = tmp_path / 'maps', tmp_path / 'drawn'
    code, log = run('tools/test.py', CONFIG, checkpoint, '--work-dir',
                    tmp_path / 'work', '--out', maps, '--show-dir', drawn,
                    '--cfg-options', f'data_root={data}', *tiny_cli_options,
                    'test_dataloader.num_workers=0',
                    'test_dataloader.persistent_workers=False')
    assert code != 0 and str(bad) in log, log[-2000:]
    assert files_under(maps) == [] and files_under(drawn) == []
    # An earlier run's folder, shared with other files: after a failed run
    # it is as it was (the run writes beside it and moves in on success).
    earlier = maps / 'Kvasir' / 'frame1.png'
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b'an earlier map')
    (maps / 'notes.txt').write_text('mine')
    code, log = run('tools/test.py', CONFIG, checkpoint, '--work-dir',
                    tmp_path / 'work', '--out', maps, '--cfg-options',
                    f'data_root={data}', *tiny_cli_options,
                    'test_dataloader.num_workers=0',
                    'test_dataloader.persistent_workers=False')
    assert code != 0 and str(bad) in log, log[-2000:]
    assert sorted(files_under(maps)) == sorted(
        [str(earlier), str(maps / 'notes.txt')])
    assert earlier.read_bytes() == b'an earlier map'
    # No staging folder left, no --show-dir folder made.
    assert sorted(os.listdir(tmp_path)) == ['data', 'maps', 'work']


def test_infer_tool_with_a_truncated_image_in_a_folder(setup, run,
                                                       tiny_cli_options,
                                                       tmp_path):
    root, checkpoint = setup
    folder = tmp_path / 'frames'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(
            str(folder / f'f{i}.png'),
            rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    bad = folder / 'f2.png'  # sorted last: f0 and f1 are segmented first
    truncate(bad)
    out = tmp_path / 'out'
    code, log = run('tools/infer.py', CONFIG, checkpoint, folder, '--out-dir',
                    out, '--cfg-options', *tiny_cli_options)
    assert code == 1 and str(bad) in log, log[-2000:]
    assert 'removed the 6 partial output file(s)' in log
    assert files_under(out) == []


@pytest.mark.slow
def test_train_tool_with_a_grayscale_training_image(setup, run,
                                                    make_kvasir_like,
                                                    tiny_cli_options,
                                                    tmp_path):
    root, _ = setup
    data = tmp_path / 'data'
    make_kvasir_like(data, num_train=2, num_test=1)
    bad = data / 'kvasir-seg' / 'images' / 'frame1.png'
    cv2.imwrite(str(bad), np.zeros((48, 64), np.uint8))
    work = tmp_path / 'work'
    code, log = run('tools/train.py', CONFIG, '--work-dir', work,
                    '--cfg-options', f'data_root={data}', *tiny_cli_options,
                    'train_dataloader.num_workers=0',
                    'train_dataloader.persistent_workers=False',
                    'train_dataloader.batch_size=2', 'train_cfg.max_iters=2')
    assert code != 0 and str(bad) in log and 'grayscale' in log, log[-2000:]
    assert not [f for f in files_under(work) if f.endswith('.pth')]


@pytest.mark.parametrize('tool', [
    pytest.param('export_onnx', marks=pytest.mark.slow), 'infer',
    pytest.param('test', marks=pytest.mark.slow)
])
def test_truncated_checkpoint(setup, run, tiny_cli_options, tmp_path, tool):
    root, checkpoint = setup
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(checkpoint.read_bytes())
    truncate(cut)
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), np.full((32, 32, 3), 99, np.uint8))
    out = tmp_path / 'out'
    command = dict(
        export_onnx=[
            'tools/export_onnx.py', CONFIG, cut, '--out', out / 'model.onnx',
            '--cfg-options', *tiny_cli_options
        ],
        infer=[
            'tools/infer.py', CONFIG, cut, image, '--out-dir', out,
            '--cfg-options', *tiny_cli_options
        ],
        test=[
            'tools/test.py', CONFIG, cut, '--work-dir', tmp_path / 'work',
            '--out', out, *options(root, tiny_cli_options)
        ])[tool]
    code, log = run(*command)
    assert code != 0 and str(cut) in log, log[-2000:]
    assert 'truncated' in log or 'not a complete' in log, log[-2000:]
    assert files_under(out) == []


@pytest.mark.slow
def test_eval_maps_with_a_truncated_map(setup, run, tmp_path):
    root, _ = setup
    maps = tmp_path / 'maps' / 'Kvasir'
    maps.mkdir(parents=True)
    for stem in ('frame6', 'frame7'):
        cv2.imwrite(
            str(maps / f'{stem}.png'), np.full((48, 64), 200, np.uint8))
    truncate(maps / 'frame7.png')
    report = tmp_path / 'report'
    code, log = run('tools/eval_maps.py', tmp_path / 'maps', CONFIG,
                    '--report-dir', report, '--cfg-options',
                    f'data_root={root / "data"}')
    assert code != 0 and str(maps / 'frame7.png') in log, log[-2000:]
    assert files_under(report) == []


def test_prepare_tool_with_a_truncated_download(run, tmp_path):
    download = tmp_path / 'Kvasir-SEG'
    for sub in ('images', 'masks'):
        (download / sub).mkdir(parents=True)
    for stem in ('cju1', 'cju2'):
        cv2.imwrite(
            str(download / 'images' / f'{stem}.jpg'),
            np.full((30, 40, 3), 120, np.uint8))
        mask = np.zeros((30, 40), np.uint8)
        mask[5:20, 5:20] = 255
        cv2.imwrite(str(download / 'masks' / f'{stem}.jpg'), mask)
    bad = download / 'images' / 'cju2.jpg'
    truncate(bad)
    out = tmp_path / 'out'
    code, log = run('tools/prepare_polyp_data.py', '--kvasir', download,
                    '--out', out)
    assert code != 0 and 'cju2.jpg' in log, log[-2000:]
    assert files_under(out) == []
