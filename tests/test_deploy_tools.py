"""The deployment tools as a user runs them: tools/deploy.py writes a folder,
tools/infer.py runs it with nothing else, tools/score_deployed.py scores
it; bad calls end with one clear line and leave nothing behind."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from ssformer_mmseg.apis import PolypSegmenter
from ssformer_mmseg.deploy.artifact import file_record

pytest.importorskip('openvino')
pytest.importorskip('nncf')


@pytest.fixture(scope='module')
def setup(make_tiny_model, tmp_path_factory):
    """A tiny model's config file (data root on a Kvasir-like set) and a
    checkpoint of it."""
    return make_tiny_model(
        tmp_path_factory.mktemp('deploy_tools'), num_train=10, num_test=3)


@pytest.fixture(scope='module')
def deployed(setup, run_tool, tmp_path_factory):
    """tools/deploy.py to OpenVINO int8 on the Kvasir-like set."""
    out = tmp_path_factory.mktemp('deployed') / 's_int8'
    result = run_tool('tools/deploy.py', setup['config'], setup['checkpoint'],
                      '--backend', 'openvino', '--precision', 'int8', '--out',
                      out, '--calib-count', 6, '--validation-count', 3,
                      '--no-progress', *setup['options'])
    assert result.code == 0, result.output
    return out, result


def test_deploy_writes_a_self_describing_folder(deployed, setup):
    out, result = deployed
    assert sorted(os.listdir(out)) == [
        'accuracy.md', 'deploy.json', 'model.bin', 'model.xml',
        'source_config.py'
    ]
    metadata = json.loads((out / 'deploy.json').read_text())
    assert metadata['backend'] == 'openvino'
    assert metadata['precision'] == 'int8'
    assert metadata['input'] == dict(
        height=352,
        width=352,
        layout='NCHW',
        dtype='float32',
        channel_order='RGB',
        value_range='0-255, then (x - mean) / std')
    assert metadata['preprocessing']['mean'] == [123.675, 116.28, 103.53]
    assert metadata['output']['align_corners'] is True
    assert metadata['output']['threshold'] == 0.5
    assert metadata['classes'] == ['background', 'polyp']
    # Calibration: the 10 training frames, 6 chosen, never the test ones.
    calibration = metadata['calibration']
    assert calibration['source'] == 'training split'
    assert (calibration['available'], calibration['count']) == (10, 6)
    assert all(n in [f'frame{i}.png' for i in range(10)]
               for n in calibration['first_names'])
    assert metadata['source']['checkpoint_sha256']
    assert metadata['quantization']['method'].startswith('post-training') or \
        metadata['quantization']['method'].startswith('accuracy-aware')
    kvasir = metadata['accuracy']['sets']['Kvasir']
    assert kvasir['images'] == 3
    assert set(kvasir) == {
        'images', 'engine', 'reference', 'delta', 'within_bound', 'engine_ci',
        'reference_ci', 'delta_ci'
    }
    assert 'openvino int8' in result.stdout and '| Kvasir | 3 |' in \
        result.stdout


def test_infer_runs_the_folder_alone(deployed, setup, run_tool, tmp_path):
    out, _ = deployed
    frame = cv2.imread(str(setup['root'] / 'kvasir-seg/images/frame11.png'))
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), frame)
    result = run_tool('tools/infer.py', out, image, '--out-dir',
                      tmp_path / 'pred', '--no-progress')
    assert result.code == 0, result.output
    assert 'openvino int8 on cpu' in result.stdout
    # The same maps as the library's deployed segmenter.
    from ssformer_mmseg.deploy import DeployedModel
    prob, = DeployedModel.load(str(out)).segmenter()([frame])
    saved = cv2.imread(str(tmp_path / 'pred/probs/frame.png'), 0)
    assert np.abs(saved.astype(int) - np.rint(prob * 255)).max() <= 1


def test_infer_refuses_a_checkpoint_with_a_folder(deployed, run_tool,
                                                  tmp_path):
    out, _ = deployed
    result = run_tool('tools/infer.py', out, 'ckpt.pth', 'frame.png')
    assert result.code == 2
    assert 'takes only INPUT after it' in result.stderr


def test_score_deployed_prints_polyp_metric_table(deployed, setup, run_tool,
                                                  tmp_path):
    out, _ = deployed
    result = run_tool('tools/score_deployed.py', out, '--report-dir',
                      tmp_path / 'score', '--no-progress', *setup['options'])
    assert result.code == 0, result.output
    assert 'openvino int8 on cpu' in result.stdout
    assert 'meanDic' in result.stdout and 'Kvasir' in result.stdout
    assert (tmp_path / 'score' / 'per_image.csv').is_file()
    # The numbers are the ones the deploy report holds for the engine.
    metadata = json.loads((out / 'deploy.json').read_text())
    mean_dic = metadata['accuracy']['sets']['Kvasir']['engine']['meanDic']
    assert f'{mean_dic:.4f}' in result.stdout


def test_score_deployed_never_executes_the_folder(deployed, setup, run_tool,
                                                  tmp_path):
    # A folder whose source_config.py runs code, with deploy.json's record
    # of it updated (a folder is copied around; anyone can write both).
    out, _ = deployed
    folder = tmp_path / 'copy'
    shutil.copytree(out, folder)
    marker = tmp_path / 'ran'
    config = folder / 'source_config.py'
    config.write_text(f'import os\nos.system("touch {marker}")\n' +
                      config.read_text())
    metadata = json.loads((folder / 'deploy.json').read_text())
    metadata['files']['source_config.py'] = file_record(str(config))
    (folder / 'deploy.json').write_text(json.dumps(metadata))
    result = run_tool('tools/score_deployed.py', folder, '--report-dir',
                      tmp_path / 'score', '--no-progress', *setup['options'])
    assert result.code == 0, result.output
    # The sets deploy.json names, scored as the deploy report scored them.
    mean_dic = metadata['accuracy']['sets']['Kvasir']['engine']['meanDic']
    assert 'Kvasir' in result.stdout and f'{mean_dic:.4f}' in result.stdout
    assert not marker.exists()
    # A folder that describes no test sets needs --config.
    del metadata['test_sets']
    (folder / 'deploy.json').write_text(json.dumps(metadata))
    result = run_tool('tools/score_deployed.py', folder, '--no-progress',
                      *setup['options'])
    assert result.code == 1
    assert 'deploy.json describes no test sets' in result.stderr
    assert '--config' in result.stderr and not marker.exists()


@pytest.mark.parametrize(
    'args, message', [
        (['--backend', 'onnxruntime', '--precision', 'bf16'
          ], 'no bf16 precision'),
        (['--backend', 'tensorrt', '--precision', 'fp32'], 'invalid choice'),
        ([
            '--backend', 'openvino', '--precision', 'int8', '--calib-data',
            'nowhere'
        ], 'nowhere: calibration folder not found'),
        ([
            '--backend', 'onnxruntime', '--precision', 'fp32', '--input-size',
            '300', '256'
        ], 'input size 300x256: each side must be a positive '
         'multiple of 32'),
    ],
    ids=[
        'ort-bf16', 'unknown-engine', 'missing-calibration-folder',
        'input-size'
    ])
def test_deploy_refusals_write_nothing(setup, run_tool, tmp_path, args,
                                       message):
    out = tmp_path / 'out'
    result = run_tool('tools/deploy.py', setup['config'], setup['checkpoint'],
                      '--out', out, *args, *setup['options'])
    assert result.code in (1, 2)
    assert message in result.stderr
    assert 'Traceback' not in result.stderr
    assert not out.exists()


def test_deploy_into_a_non_empty_folder_is_refused(setup, run_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    result = run_tool('tools/deploy.py', setup['config'], setup['checkpoint'],
                      '--backend', 'onnxruntime', '--precision', 'fp32',
                      '--out', out, '--no-accuracy', *setup['options'])
    assert result.code == 1 and 'is not empty' in result.stderr
    assert os.listdir(out) == ['keep.txt']


def test_corrupt_folder_is_named_by_infer(deployed, run_tool, tmp_path):
    import shutil
    out, _ = deployed
    broken = tmp_path / 'broken'
    shutil.copytree(out, broken)
    with open(broken / 'model.bin', 'r+b') as f:
        f.seek(100)
        f.write(b'\x00\x01\x02\x03')
    frame = tmp_path / 'frame.png'
    cv2.imwrite(str(frame), np.zeros((32, 32, 3), np.uint8))
    result = run_tool('tools/infer.py', broken, frame, '--out-dir',
                      tmp_path / 'pred')
    assert result.code == 1
    assert 'model.bin: changed since it was deployed' in result.stderr
    assert not (tmp_path / 'pred').exists()


def test_onnxruntime_fp32_folder_equals_pytorch(setup, run_tool, tmp_path):
    out = tmp_path / 'ort'
    result = run_tool('tools/deploy.py', setup['config'], setup['checkpoint'],
                      '--backend', 'onnxruntime', '--precision', 'fp32',
                      '--out', out, '--no-progress', *setup['options'])
    assert result.code == 0, result.output
    metadata = json.loads((out / 'deploy.json').read_text())
    assert metadata['calibration'] is None
    delta = metadata['accuracy']['sets']['Kvasir']['delta']
    assert max(abs(v) for v in delta.values()) < 1e-3
    from ssformer_mmseg.deploy import DeployedModel
    frame = np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8)
    engine, = DeployedModel.load(str(out)).segmenter()([frame])
    reference, = PolypSegmenter(setup['config'], setup['checkpoint'])([frame])
    np.testing.assert_allclose(engine, reference, atol=1e-5)


def test_a_smaller_input_size_is_deployed_with_its_cost(
        setup, run_tool, tmp_path):
    out = tmp_path / 'small'
    result = run_tool('tools/deploy.py', setup['config'], setup['checkpoint'],
                      '--backend', 'onnxruntime', '--precision', 'fp32',
                      '--input-size', '256', '224', '--out', out,
                      '--no-progress', *setup['options'])
    assert result.code == 0, result.output
    metadata = json.loads((out / 'deploy.json').read_text())
    assert (metadata['input']['height'], metadata['input']['width']) == (256,
                                                                         224)
    assert metadata['source']['trained_input_size'] == [352, 352]
    accuracy = metadata['accuracy']
    assert accuracy['engine_input_size'] == [256, 224]
    assert accuracy['reference_input_size'] == [352, 352]
    report = (out / 'accuracy.md').read_text()
    assert 'onnxruntime fp32 at 256x224' in report
    assert 'PyTorch fp32 at 352x352' in report
    # The folder runs at its own size on frames of any size.
    from ssformer_mmseg.deploy import DeployedModel
    segmenter = DeployedModel.load(str(out)).segmenter()
    frame = np.zeros((90, 120, 3), np.uint8)
    assert segmenter.preprocess([frame])['inputs'].shape[2:] == (256, 224)
    assert segmenter([frame])[0].shape == (90, 120)
