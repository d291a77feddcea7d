"""tools/benchmark.py runs every requested variant and writes its JSON."""
import importlib.util
import json

import pytest
import torch

from ssformer_mmseg import cpu_features
from ssformer_mmseg.benchmark import BenchmarkOptions


@pytest.mark.slow
def test_benchmark_reports_inference_training_and_data(kvasir_like_root,
                                                       tiny_cli_options,
                                                       run_tool, tmp_path):
    out = tmp_path / 'bench.json'
    # The shared tiny options also switch off the pretrained backbone, as
    # the benchmark itself always does: same model as without them.
    result = run_tool('tools/benchmark.py', 'configs/ssformer_s_kvasir.py',
                      '--shape', '64', '64', '--precision', 'fp32', 'bf16',
                      '--train', '--loss-steps', '3', '--data', '--workers',
                      '0', '1', '--data-batches', '2', '--warmup', '1',
                      '--rounds', '2', '--json', str(out), '--cfg-options',
                      *tiny_cli_options, f'data_root={kvasir_like_root}',
                      'train_dataloader.batch_size=2')
    assert result.code == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    names = [row['name'] for row in report['inference']]
    assert names == [
        'eager fp32', 'eager fp32 channels_last', 'fast fp32', 'fast bf16'
    ]
    baseline, *others = report['inference']
    assert baseline['speedup'] == 1.0 and baseline['max_abs_diff'] == 0.0
    for row in report['inference']:
        assert row['img_per_s'] > 0 and row['p50_ms'] <= row['p90_ms']
        assert row['peak_mb'] >= 0
    by_name = {row['name']: row for row in report['inference']}
    assert by_name['fast fp32']['max_abs_diff'] < 1e-4
    assert by_name['fast bf16']['max_abs_diff'] > 0

    steps = report['training']['steps']
    assert steps[0]['name'] == 'eager fp32' and len(steps) == 5
    # The fast recipe uses bf16 AMP only where the CPU has native bf16.
    assert ('AMP bf16' in steps[-1]['name']) == \
        cpu_features.onednn_bf16_supported()
    assert all(row['img_per_s'] > 0 for row in steps)
    curves = list(report['training']['loss_curves'].values())
    assert len(curves) == 2 and all(len(c) == 3 for c in curves)

    assert [row['workers'] for row in report['data']] == [0, 1]
    assert all(row['samples_per_s'] > 0 for row in report['data'])
    assert report['complexity']['params_m'] > 0
    assert report['complexity']['gflops'] > 0
    assert 'x eager' in result.stdout and 'samples/s' in result.stdout


# The engine comparison (--engines) -------------------------------------------

# Not smaller: OpenVINO 2026.4 crashes (segfault) running NNCF's int8 model
# of the tiny SSFormer at 64x64 (the real SSFormer-S runs there).
ENGINE_SHAPE = (96, 96)


def _all_rows() -> list:
    """Every row the comparison can have, in its order."""
    return [
        'eager fp32', 'pytorch fast fp32', 'pytorch fast bf16',
        'onnxruntime fp32', 'onnxruntime int8', 'openvino fp32',
        'openvino bf16', 'openvino int8'
    ]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _runnable_rows() -> list:
    """The rows this machine can run: bf16 only where native, each engine
    only with its packages (the tests extra installs all of them)."""
    export = all(map(_installed, ('onnx', 'onnxscript', 'onnxruntime')))
    rows = ['eager fp32', 'pytorch fast fp32']
    if cpu_features.onednn_bf16_supported():
        rows.append('pytorch fast bf16')
    if export:
        rows.append('onnxruntime fp32')
        if _installed('nncf'):
            rows.append('onnxruntime int8')
    if export and _installed('openvino'):
        from ssformer_mmseg.apis.backends import OpenVINOBackend
        supported = OpenVINOBackend.supported_precisions()
        rows += [
            f'openvino {p}' for p in ('fp32', 'bf16', 'int8')
            if p in supported and (p != 'int8' or _installed('nncf'))
        ]
    return rows


def _engine_options(**changes) -> BenchmarkOptions:
    settings = dict(
        engines=True,
        shape=ENGINE_SHAPE,
        throughput_batch=2,
        calib_count=3,
        warmup=1,
        rounds=1)
    settings.update(changes)
    return BenchmarkOptions(**settings)


def _check_rows(report: dict, batch: int) -> None:
    """Timings and errors of each row; the baseline is eager fp32."""
    baseline = report['rows'][0]
    assert baseline['name'] == 'eager fp32'
    assert baseline['max_abs_logit_diff'] == 0.0
    for row in report['rows']:
        for mode, frames in (('latency', 1), ('throughput', batch)):
            timing = row[mode]
            assert timing['batch'] == frames and timing['img_per_s'] > 0
            assert timing['p50_ms'] <= timing['p90_ms']
            assert timing['peak_mb'] >= 0 and timing['speedup'] > 0
            if row is baseline:
                assert timing['speedup'] == 1.0
        assert 0 <= row['max_abs_prob_diff'] <= 1
        if row['precision'] == 'fp32':  # same function, float rounding
            assert row['max_abs_logit_diff'] < 1e-4, row['name']
    names = [row['name'] for row in report['rows']]
    for mode, name in report['recommended'].items():
        assert name in names, mode
        chosen = report['rows'][names.index(name)]
        assert chosen['max_abs_prob_diff'] <= report['prob_tolerance']
        assert chosen[mode]['speedup'] == max(
            r[mode]['speedup'] for r in report['rows']
            if r['max_abs_prob_diff'] <= report['prob_tolerance'])


@pytest.mark.slow
def test_engines_report_every_runnable_engine_and_precision(
        kvasir_like_root, tiny_cli_options, run_tool, tmp_path):
    out = tmp_path / 'engines.json'
    result = run_tool('tools/benchmark.py', 'configs/ssformer_s_kvasir.py',
                      '--engines', '--threads', '2', '--shape',
                      *map(str, ENGINE_SHAPE), '--throughput-batch', '2',
                      '--calib-count', '3', '--warmup', '1', '--rounds', '1',
                      '--json', str(out), '--cfg-options', *tiny_cli_options,
                      f'data_root={kvasir_like_root}')
    assert result.code == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert 'inference' not in report  # --engines replaces that table
    engines = report['engines']
    names = [row['name'] for row in engines['rows']]
    skipped = [entry['name'] for entry in engines['skipped']]
    assert names == _runnable_rows()
    assert sorted(names + skipped) == sorted(_all_rows())
    _check_rows(engines, batch=2)
    # Real training frames: 2 timed, 3 others for calibration.
    inputs = engines['inputs']
    assert inputs['source'] == 'training split' and inputs['count'] == 3
    assert inputs['timed_frames'] == 2 and inputs['overlap'] == 0
    assert not engines['trained_weights']
    assert engines['versions']['torch'] == torch.__version__
    assert report['environment']['threads'] == 2
    assert cpu_features.cpu_name() in result.stdout
    latency = engines['recommended']['latency']
    assert f'recommended here for single frames: {latency} (' in result.stdout
    assert 'RANDOM' not in result.stdout


def _without(monkeypatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled to the engine comparison."""
    from ssformer_mmseg.apis import optional
    require = optional.require

    def fake_require(module, *args, **kwargs):
        if module in modules:
            return require(f'{module}_not_installed', *args, **kwargs)
        return require(module, *args, **kwargs)

    monkeypatch.setattr(optional, 'require', fake_require)


def test_engines_skip_the_rows_of_missing_packages(monkeypatch, tiny_config):
    from ssformer_mmseg.apis.loading import load_segmentor
    from ssformer_mmseg.benchmark.engines import benchmark_engines
    from ssformer_mmseg.benchmark.report import format_engines
    _without(monkeypatch, 'onnxruntime')
    log = []
    report = benchmark_engines(tiny_config, load_segmentor(tiny_config),
                               _engine_options(log=log.append))
    names = [row['name'] for row in report['rows']]
    assert names == [
        n for n in _runnable_rows() if n.startswith(('eager', 'pytorch'))
    ]
    skipped = {entry['name']: entry['reason'] for entry in report['skipped']}
    # The export both engines run needs onnxruntime for its parity check.
    engine_rows = [n for n in _all_rows() if n.startswith(('onnx', 'open'))]
    assert set(engine_rows) <= set(skipped)
    for name in engine_rows:
        assert 'onnxruntime' in skipped[name]
        assert 'pip install' in skipped[name]
    _check_rows(report, batch=2)
    assert report['versions']['onnxruntime'] is None
    # No data_root folder: random frames, and the report says so.
    assert report['inputs']['source'] == 'random frames'
    text = format_engines(report)
    assert 'skipped onnxruntime fp32: ' in text and 'RANDOM' in text
    assert any('skipped openvino int8' in line for line in log)


@pytest.mark.slow
def test_engines_without_openvino_and_nncf_keep_onnx_runtime_fp32(
        monkeypatch, tiny_config):
    from ssformer_mmseg.apis.loading import load_segmentor
    from ssformer_mmseg.benchmark.engines import benchmark_engines
    _without(monkeypatch, 'openvino', 'nncf')
    report = benchmark_engines(tiny_config, load_segmentor(tiny_config),
                               _engine_options())
    names = [row['name'] for row in report['rows']]
    assert names[-1] == 'onnxruntime fp32'
    skipped = {entry['name']: entry['reason'] for entry in report['skipped']}
    assert 'nncf' in skipped['onnxruntime int8']
    for precision in ('fp32', 'bf16', 'int8'):
        assert 'pip install openvino nncf' in skipped[f'openvino {precision}']
    _check_rows(report, batch=2)


# What each hand-written kernel earns (--kernels) -----------------------------


def test_kernels_time_the_fast_path_without_each_kernel(
        monkeypatch, tiny_config):
    from ssformer_mmseg.apis.loading import load_segmentor
    from ssformer_mmseg.benchmark import kernels
    from ssformer_mmseg.ops.winograd import WinogradConv2d

    replaced = []
    for kernel, (name, plain) in kernels._PLAIN_CALLS.items():

        def counting(*args, plain=plain, kernel=kernel, **kwargs):
            replaced.append(kernel)
            return plain(*args, **kwargs)

        monkeypatch.setitem(kernels._PLAIN_CALLS, kernel, (name, counting))
    optimized = []
    real_optimize = kernels.optimize_for_inference

    def recording_optimize(*args, **kwargs):
        optimized.append(real_optimize(*args, **kwargs))
        return optimized[-1]

    monkeypatch.setattr(kernels, 'optimize_for_inference', recording_optimize)
    options = BenchmarkOptions(
        kernels=True, shape=(64, 64), warmup=0, rounds=3)
    rows = kernels.benchmark_kernels(load_segmentor(tiny_config), options)

    measured = [(row['precision'], row['kernel']) for row in rows]
    # The fused projection runs in bf16 only: not measured in fp32.
    assert measured == [('fp32', 'winograd'), ('fp32', 'fused conv')]
    # The replacements compute the same function, and were the ones run.
    for row in rows:
        assert row['max_abs_diff'] < 1e-4
        assert row['with_ms'] > 0 and row['without_ms'] > 0
        assert row['keeps'] == (row['gain'] >= kernels.KEEP_THRESHOLD)
    assert set(replaced) == {'fused conv'}
    # The model optimized without Winograd has no Winograd convolution.
    with_winograd, without_winograd = optimized
    assert any(isinstance(m, WinogradConv2d) for m in with_winograd.modules())
    assert not any(
        isinstance(m, WinogradConv2d) for m in without_winograd.modules())


# Complexity and progress -----------------------------------------------------


def test_complexity_is_mmengines_count_without_its_warnings(
        tiny_config, monkeypatch):
    from mmengine.analysis import get_model_complexity_info, jit_analysis

    from ssformer_mmseg.apis import load_segmentor
    from ssformer_mmseg.benchmark.report import complexity
    said = []
    monkeypatch.setattr(jit_analysis, 'print_log',
                        lambda message, *args, **kwargs: said.append(message))
    model = load_segmentor(tiny_config, None, 'cpu')
    info = complexity(model, (64, 64))
    assert said == []
    expected = get_model_complexity_info(
        model,
        inputs=(torch.randn(1, 3, 64, 64), ),
        show_table=False,
        show_arch=False)
    assert any('never called' in message for message in said)  # its own
    assert info == dict(
        gflops=expected['flops'] / 1e9, params_m=expected['params'] / 1e6)


def test_timing_says_where_it_is():
    from ssformer_mmseg.benchmark.measure import interleaved_times
    said = []
    calls = dict(a=lambda: None, b=lambda: None)
    times = interleaved_times(calls, 'cpu', 1, 3, said.append, every_s=0)
    assert {name: len(t) for name, t in times.items()} == dict(a=3, b=3)
    assert [line.split('(')[0].strip() for line in said
            ] == [f'round {n}/3 of 2 timed calls' for n in (1, 2, 3)]
    said.clear()
    interleaved_times(calls, 'cpu', 1, 3, said.append)  # at most every 10 s
    assert len(said) == 1 and said[0].strip().startswith('round 3/3')


# Input size x engine x precision against a frame rate (--target-fps) ---------


@pytest.mark.slow
def test_target_fps_sweeps_sizes_engines_and_precisions(
        make_tiny_model, tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('nncf')
    from ssformer_mmseg.benchmark.report import format_target_fps
    from ssformer_mmseg.benchmark.target_fps import (benchmark_target_fps,
                                                     recommend)
    from ssformer_mmseg.config import load_config
    model = make_tiny_model(tmp_path)
    cfg = load_config(model['config'], {'data_root': str(model['root'])})
    log = []
    options = BenchmarkOptions(
        target_fps=1e9,
        sizes=[96, 64],
        backends=['onnxruntime'],
        throughput_batch=2,
        calib_count=2,
        warmup=1,
        rounds=2,
        log=log.append)
    report = benchmark_target_fps(cfg, model['checkpoint'], options)
    pytorch = ['eager fp32', 'pytorch fast fp32'] + (
        ['pytorch fast bf16'] if cpu_features.onednn_bf16_supported() else [])
    expected = [
        f'{name} @{side}x{side}' for side in (96, 64)
        for name in pytorch + ['onnxruntime fp32', 'onnxruntime int8']
    ]
    assert [row['name'] for row in report['rows']] == expected
    assert report['skipped'] == [] and report['scored']
    assert report['trained_size'] == [352, 352] and report['frames'] == 2
    for row in report['rows']:
        assert row['fps'] > 0 and row['p50_ms'] <= row['p90_ms']
        assert row['fps'] == pytest.approx(1e3 / row['p50_ms'])
        assert 0 <= row['meanDic'] <= 1
        assert -1 <= row['delta_meanDic'] <= 1
        low, high = row['delta_meanDic_ci']  # paired: brackets Δ
        assert low - 1e-9 <= row['delta_meanDic'] <= high + 1e-9
    # fp32 engines at one size score as the eager model at that size.
    by_name = {row['name']: row for row in report['rows']}
    assert by_name['onnxruntime fp32 @64x64']['meanDic'] == pytest.approx(
        by_name['eager fp32 @64x64']['meanDic'], abs=1e-3)
    # Nothing reaches 1e9 frames/s: said, with the fastest.
    assert report['recommended'] is None
    text = format_target_fps(report)
    assert 'Δ 95% CI (paired bootstrap)' in text
    assert 'no combination reaches 1e+09 frames/s here; the fastest is ' \
        f'{report["fastest"]}' in text
    # Any frame rate: the most accurate row wins (ties: the faster).
    chosen = by_name[recommend(report['rows'], 1e-6)]
    assert chosen['meanDic'] == max(r['meanDic'] for r in report['rows'])
    assert any('deploying onnxruntime int8 @64x64' in m for m in log)


def test_target_fps_without_scores_prefers_size_then_precision():
    from ssformer_mmseg.benchmark.target_fps import recommend
    rows = [
        dict(name='a', size=[256, 256], precision='fp32', fps=30.0),
        dict(name='b', size=[320, 320], precision='int8', fps=26.0),
        dict(name='c', size=[320, 320], precision='fp32', fps=20.0),
        dict(name='d', size=[320, 320], precision='bf16', fps=25.0),
    ]
    assert recommend(rows, 25) == 'd'  # largest input, then precision
    assert recommend(rows, 27) == 'a'
    assert recommend(rows, 31) is None
