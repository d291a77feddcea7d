"""tools/benchmark.py runs every requested variant and writes its JSON."""
import json
import subprocess
import sys

from conftest import REPO_ROOT

TINY = [
    'model.backbone.embed_dims=8', 'model.backbone.num_layers=[1,1,1,1]',
    'model.decode_head.in_channels=[8,16,40,64]',
    'model.decode_head.channels=8'
]


def test_benchmark_reports_inference_and_training(tmp_path):
    out = tmp_path / 'bench.json'
    result = subprocess.run([
        sys.executable, 'tools/benchmark.py', 'configs/ssformer_s_kvasir.py',
        '--shape', '64', '64', '--precision', 'fp32', 'bf16',
        '--channels-last', '--train', '--warmup', '1', '--iters', '2',
        '--json', str(out), '--cfg-options', *TINY
    ], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    combos = [(r['precision'], r['channels_last']) for r in report['results']]
    assert combos == [('fp32', False), ('fp32', True), ('bf16', False),
                      ('bf16', True)]
    for row in report['results']:
        assert row['img_per_s'] > 0 and row['train_img_per_s'] > 0
        assert row['p50_ms'] <= row['p90_ms'] and row['peak_mb'] > 0
    assert report['complexity']['params_m'] > 0
    assert report['complexity']['gflops'] > 0
    assert 'x eager' in result.stdout
