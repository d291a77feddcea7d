"""Every entry point that loads a checkpoint refuses one whose pickle
references an unexpected global, names it, and runs none of its code."""
import os

import cv2
import numpy as np
import pytest

CONFIG = 'configs/ssformer_s_kvasir.py'


@pytest.fixture(scope='module')
def evil(tmp_path_factory, make_kvasir_like, write_hostile_checkpoint):
    root = tmp_path_factory.mktemp('evil')
    make_kvasir_like(root / 'data', num_train=2, num_test=1)
    marker = root / 'code_ran'
    checkpoint = root / 'evil.pth'
    # A complete, well-formed torch checkpoint: only its pickle is hostile.
    write_hostile_checkpoint(checkpoint, marker)
    image = root / 'frame.png'
    cv2.imwrite(str(image), np.full((32, 32, 3), 128, np.uint8))
    return root, checkpoint, marker, image


def entry_points(root, checkpoint, image, tiny_cli_options):
    options = [
        '--cfg-options', f'data_root={root / "data"}', *tiny_cli_options
    ]
    work = root / 'work'
    resume_dir = root / 'resume'
    resume_dir.mkdir(exist_ok=True)
    (resume_dir / 'iter_2.pth').write_bytes(checkpoint.read_bytes())
    return {
        'test': ([
            'tools/test.py', CONFIG,
            str(checkpoint), '--work-dir',
            str(work), *options
        ], None),
        'infer': ([
            'tools/infer.py', CONFIG,
            str(checkpoint),
            str(image), '--out-dir',
            str(root / 'infer'), '--cfg-options', *tiny_cli_options
        ], root / 'infer'),
        'train load_from': ([
            'tools/train.py', CONFIG, '--work-dir',
            str(work), *options, f'load_from={checkpoint}',
            'train_cfg.max_iters=1'
        ], None),
        'train --resume': ([
            'tools/train.py', CONFIG, '--resume', '--work-dir',
            str(resume_dir), *options, 'train_cfg.max_iters=3'
        ], None),
        'ssformer2mmseg': ([
            'tools/model_converters/ssformer2mmseg.py',
            str(checkpoint),
            str(root / 'converted.pth')
        ], root / 'converted.pth'),
        'mit2mmseg': ([
            'tools/model_converters/mit2mmseg.py',
            str(checkpoint),
            str(root / 'mit.pth')
        ], root / 'mit.pth'),
        'export_onnx': ([
            'tools/export_onnx.py', CONFIG,
            str(checkpoint), '--out',
            str(root / 'model.onnx'), '--cfg-options', *tiny_cli_options
        ], root / 'model.onnx'),
    }


def slow(name):
    return pytest.param(name, marks=pytest.mark.slow)


# Those that get to build a model or a loop take 6-11 s on a 2-core CPU;
# the rest stop within a tool's start-up (about 5 s).
@pytest.mark.parametrize('name', [
    slow('test'), 'infer',
    slow('train load_from'),
    slow('train --resume'), 'ssformer2mmseg', 'mit2mmseg',
    slow('export_onnx')
])
def test_entry_point_refuses_foreign_global(evil, tiny_cli_options, run_tool,
                                            name):
    root, checkpoint, marker, image = evil
    command, output = entry_points(root, checkpoint, image,
                                   tiny_cli_options)[name]
    result = run_tool(*command)
    log = result.output
    assert result.code != 0, log[-2000:]
    # torch names the refused global (os.system is posix.system on Linux).
    assert f'{os.system.__module__}.system' in log, log[-2000:]
    assert not marker.exists()
    if output is not None:  # nothing written, or only an empty folder
        assert not output.exists() or (output.is_dir()
                                       and not any(output.iterdir()))
