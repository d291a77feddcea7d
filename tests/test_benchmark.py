"""tools/benchmark.py runs every requested variant and writes its JSON."""
import json

import pytest

from ssformer_mmseg import cpu_features


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
