"""Adding an engine is one file: tests/plugin_engine.py, installed as a
plug-in (an entry point of group ``ssformer_mmseg.backends`` in a package's
metadata, as pip writes it), deploys, loads, infers and is benchmarked
through the unchanged tools; without the plug-in its folder says what is
missing, and a broken plug-in leaves the others working."""
import json
import os
import pathlib

import cv2
import numpy as np
import pytest

from ssformer_mmseg.apis import PolypSegmenter
from ssformer_mmseg.apis.backends import PLUGIN_GROUP
from ssformer_mmseg.cpu_features import onednn_bf16_supported

for _module in ('onnx', 'onnxscript', 'onnxruntime'):
    pytest.importorskip(_module)

TESTS = pathlib.Path(__file__).parent


def _site_with_plugin(site: pathlib.Path, target: str) -> pathlib.Path:
    """A site folder holding an installed package's metadata that declares
    ``target`` as the ``standin`` backend plug-in."""
    dist = site / 'standin_engine-0.1.dist-info'
    dist.mkdir(parents=True)
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: standin-engine\nVersion: 0.1\n')
    (dist /
     'entry_points.txt').write_text(f'[{PLUGIN_GROUP}]\nstandin = {target}\n')
    return site


def _env(*paths) -> dict:
    """This environment with ``paths`` in front of PYTHONPATH."""
    existing = [os.environ['PYTHONPATH']] if 'PYTHONPATH' in os.environ \
        else []
    return dict(
        os.environ, PYTHONPATH=os.pathsep.join([*map(str, paths), *existing]))


@pytest.fixture(scope='module')
def plugin_env(tmp_path_factory) -> dict:
    """The environment of a machine where the plug-in is installed."""
    site = _site_with_plugin(tmp_path_factory.mktemp('site'), 'plugin_engine')
    return _env(site, TESTS)


@pytest.fixture(scope='module')
def model(make_tiny_model, tmp_path_factory) -> dict:
    """A tiny model's config file (data on a Kvasir-like set) and a
    checkpoint of it."""
    return make_tiny_model(
        tmp_path_factory.mktemp('plugin_model'), num_train=6, num_test=3)


@pytest.fixture(scope='module')
def deployed(model, plugin_env, run_tool, tmp_path_factory):
    out = tmp_path_factory.mktemp('plugin_deployed') / 'standin'
    result = run_tool(
        'tools/deploy.py',
        model['config'],
        model['checkpoint'],
        '--backend',
        'standin',
        '--precision',
        'fp32',
        '--out',
        out,
        '--no-progress',
        *model['options'],
        env=plugin_env)
    assert result.code == 0, result.output
    return out, result


def test_the_plugin_deploys_through_the_deploy_tool(deployed):
    out, result = deployed
    assert sorted(os.listdir(out)) == [
        'accuracy.md', 'deploy.json', 'network.standin', 'source_config.py'
    ]
    metadata = json.loads((out / 'deploy.json').read_text())
    assert (metadata['backend'], metadata['precision']) == ('standin', 'fp32')
    assert sorted(metadata['files']) == ['network.standin', 'source_config.py']
    versions = metadata['built']['versions']
    assert set(versions) == {'ssformer_mmseg', 'torch', 'onnxruntime'}
    kvasir = metadata['accuracy']['sets']['Kvasir']
    assert kvasir['images'] == 3
    # The export in another runtime: the scores of PyTorch, to rounding.
    assert kvasir['engine']['meanDic'] == pytest.approx(
        kvasir['reference']['meanDic'], abs=1e-3)
    assert 'standin fp32' in result.stdout


def test_the_deployed_plugin_folder_infers_like_pytorch(
        deployed, model, plugin_env, run_tool, tmp_path):
    out, _ = deployed
    frame = cv2.imread(str(model['root'] / 'kvasir-seg/images/frame7.png'))
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), frame)
    result = run_tool(
        'tools/infer.py',
        out,
        image,
        '--out-dir',
        tmp_path / 'pred',
        '--no-progress',
        env=plugin_env)
    assert result.code == 0, result.output
    assert 'standin fp32 on cpu' in result.stdout
    prob, = PolypSegmenter(model['config'], model['checkpoint'])([frame])
    saved = cv2.imread(str(tmp_path / 'pred/probs/frame.png'), 0)
    assert np.abs(saved.astype(int) - np.rint(prob * 255)).max() <= 1


def test_the_plugin_is_benchmarked_beside_pytorch(model, plugin_env, run_tool,
                                                  tmp_path):
    report_file = tmp_path / 'engines.json'
    result = run_tool(
        'tools/benchmark.py',
        model['config'],
        '--engines',
        '--backends',
        'standin',
        '--threads',
        '2',
        '--shape',
        '96',
        '96',
        '--throughput-batch',
        '2',
        '--calib-count',
        '2',
        '--warmup',
        '1',
        '--rounds',
        '1',
        '--json',
        report_file,
        *model['options'],
        env=plugin_env)
    assert result.code == 0, result.output
    engines = json.loads(report_file.read_text())['engines']
    pytorch = ['eager fp32', 'pytorch fast fp32'
               ] + (['pytorch fast bf16'] if onednn_bf16_supported() else [])
    assert [row['name']
            for row in engines['rows']] == pytorch + ['standin fp32']
    assert engines['skipped'] == []
    row = engines['rows'][-1]
    assert row['engine'] == 'standin' and row['max_abs_logit_diff'] < 1e-4
    assert row['throughput']['batch'] == 2


def test_the_tools_list_the_plugin_and_refuse_its_misplaced_options(
        model, plugin_env, run_tool, tmp_path):
    result = run_tool('tools/deploy.py', '--help', env=plugin_env)
    assert 'standin' in result.stdout
    result = run_tool(
        'tools/infer.py',
        model['config'],
        '-',
        'frame.png',
        '--backend',
        'standin',
        '--model-file',
        'x.standin',
        '--fast',
        env=plugin_env)
    assert result.code == 2
    assert '--fast does not apply to backend standin' in result.stderr


def test_without_the_plugin_its_folder_says_what_is_missing(
        deployed, run_tool, tmp_path):
    out, _ = deployed
    result = run_tool('tools/infer.py', out, 'frame.png', '--out-dir',
                      tmp_path / 'pred')
    assert result.code != 0
    assert "unknown backend 'standin'" in result.stderr
    assert 'plug-in backend needs its package installed' in result.stderr


def test_a_broken_plugin_warns_and_the_others_still_work(tmp_path, run_tool):
    site = _site_with_plugin(tmp_path / 'site', 'no_such_engine_module')
    result = run_tool(
        '-c', 'import ssformer_mmseg.apis.backends as b; '
        'print(sorted(b.BACKENDS))',
        env=_env(site))
    assert result.code == 0, result.output
    assert result.stdout.strip() == "['onnxruntime', 'openvino', 'pytorch']"
    assert 'BackendPluginWarning: backend plug-in standin ' \
        '(no_such_engine_module) cannot be imported' in result.stderr
    assert 'No module named' in result.stderr
