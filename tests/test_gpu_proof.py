"""The GPU proof: its bundle builder, its bootstrap, its orchestration
(time limits, skipped and failed steps) and its CPU dry run end to end, so
the script a lent GPU runs cannot rot."""
import ast
import importlib.metadata
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

from ssformer_mmseg.gpu_proof import ProofSettings, run_proof
from ssformer_mmseg.gpu_proof.bundle import (CARRIED, BundleSpec, build_bundle,
                                             carried_versions, parse_versions)
from ssformer_mmseg.gpu_proof.report import LAUNCH_PHASES, REPORT_FILES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RUN = osp.join(ROOT, 'tools', 'gpu_proof', 'run.py')
BOOTSTRAP = osp.join(ROOT, 'ssformer_mmseg', 'gpu_proof', 'bootstrap.py')


def write_wheel(folder, name: str, version: str, module: str = None) -> str:
    """A minimal valid wheel of ``name`` ``version`` (py3-none-any),
    holding ``module``.py if given."""
    stem = name.replace('-', '_')
    path = osp.join(folder, f'{stem}-{version}-py3-none-any.whl')
    info = f'{stem}-{version}.dist-info'
    files = {
        f'{info}/METADATA':
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n',
        f'{info}/WHEEL':
        'Wheel-Version: 1.0\nGenerator: test\n'
        'Root-Is-Purelib: true\nTag: py3-none-any\n',
    }
    if module:
        files[f'{module}.py'] = 'ANSWER = 42\n'
    files[f'{info}/RECORD'] = ''.join(f'{f},,\n' for f in files) + \
        f'{info}/RECORD,,\n'
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(path, 'w') as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.fixture(scope='module')
def fake_index(tmp_path_factory):
    """A folder of stand-in wheels for every carried distribution at the
    version installed here: the builder's pip runs offline on it."""
    folder = str(tmp_path_factory.mktemp('index'))
    for name, version in carried_versions().items():
        write_wheel(folder, name, version)
    return folder


@pytest.fixture(scope='module')
def pranet_like(tmp_path_factory, make_kvasir_like):
    """Kvasir- and CVC-ClinicDB-like sets with PraNet split lists: 6
    training and 2 test pairs each."""
    root = make_kvasir_like(tmp_path_factory.mktemp('pranet') / 'data', 6, 2)
    for sub in ('images', 'masks'):
        shutil.copytree(root / 'kvasir-seg' / sub, root / 'cvc-clinicdb' / sub)
    for part in ('train', 'test'):
        shutil.copyfile(root / 'splits' / 'pranet' / f'kvasir_{part}.txt',
                        root / 'splits' / 'pranet' / f'clinicdb_{part}.txt')
    return root


def _build(tmp_path, fake_index, pranet_like, **spec):
    spec = dict(
        out=str(tmp_path / 'bundle'),
        data_root=str(pranet_like),
        train_pairs=dict(kvasir=4, clinicdb=3),
        find_links=fake_index,
        package_wheel=False,
        **spec)
    return build_bundle(BundleSpec(**spec))


def test_bundle_carries_pinned_wheels_and_a_consistent_data_slice(
        tmp_path, fake_index, pranet_like):
    manifest = _build(tmp_path, fake_index, pranet_like)
    bundle = tmp_path / 'bundle'
    versions = carried_versions()
    assert {w['name']: w['version'] for w in manifest['wheels']} == versions
    assert set(versions) == set(CARRIED)
    for wheel in manifest['wheels']:
        assert (bundle / wheel['file']).is_file()
    assert manifest['python_version'] == '3.12'
    assert manifest['data'] == dict(
        kvasir_test=2, clinicdb_test=2, kvasir_train=4, clinicdb_train=3)
    # Every listed stem has its pair in the bundle, and nothing else is.
    for prefix, folder in (('kvasir', 'kvasir-seg'), ('clinicdb',
                                                      'cvc-clinicdb')):
        listed = []
        for part in ('train', 'test'):
            split = bundle / 'data' / 'splits' / 'pranet' / \
                f'{prefix}_{part}.txt'
            listed += split.read_text().split()
        for sub in ('images', 'masks'):
            names = sorted(os.listdir(bundle / 'data' / folder / sub))
            assert names == sorted(f'{stem}.png' for stem in listed)
            for name in names:  # byte-identical copies
                assert (bundle / 'data' / folder / sub / name).read_bytes() \
                    == (pranet_like / folder / sub / name).read_bytes()
    # The test split is carried whole.
    assert (bundle / 'data/splits/pranet/kvasir_test.txt').read_text() \
        .split() == (pranet_like / 'splits/pranet/kvasir_test.txt') \
        .read_text().split()


def test_bundle_budget_cuts_training_pairs_never_test_pairs(
        tmp_path, fake_index, pranet_like):
    pair = sum(
        osp.getsize(pranet_like / 'kvasir-seg' / sub / 'frame0.png')
        for sub in ('images', 'masks'))
    wheels = sum(
        osp.getsize(osp.join(fake_index, name))
        for name in os.listdir(fake_index))
    # Room for the 4 test pairs and about 2 training pairs.
    budget = (wheels + 6.5 * pair) / 2**20 + 0.1
    manifest = _build(tmp_path, fake_index, pranet_like, budget_mib=budget)
    data = manifest['data']
    assert data['kvasir_test'] == 2 and data['clinicdb_test'] == 2
    assert 1 <= data['kvasir_train'] + data['clinicdb_train'] <= 3
    with pytest.raises(RuntimeError, match='test pairs alone do not fit'):
        _build(
            tmp_path,
            fake_index,
            pranet_like,
            budget_mib=(wheels + 2 * pair) / 2**20 + 0.1)


def test_bundle_errors_name_what_is_wrong(tmp_path, fake_index, pranet_like,
                                          monkeypatch):
    broken = tmp_path / 'broken'
    shutil.copytree(pranet_like, broken)
    (broken / 'splits/pranet/kvasir_train.txt').write_text('frame0\nnope\n')
    with pytest.raises(
            RuntimeError,
            match='kvasir_train.txt lists 1 pairs '
            'missing from the data, e.g. nope'):
        _build(tmp_path, fake_index, broken)
    with pytest.raises(RuntimeError, match='pip could not download'):
        _build(
            tmp_path, fake_index, pranet_like, versions={'mmengine': '0.0.1'})
    real_version = importlib.metadata.version

    def lacking(name):
        if name == 'addict':
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, 'version', lacking)
    with pytest.raises(RuntimeError, match='no version to carry: addict'):
        carried_versions()
    assert carried_versions({'addict': '2.4.0'})['addict'] == '2.4.0'
    assert parse_versions(['a==1', 'b == 2']) == dict(a='1', b='2')
    with pytest.raises(ValueError, match='NAME==VERSION'):
        parse_versions(['mmengine'])


def test_bootstrap_needs_only_the_standard_library():
    tree = ast.parse(open(BOOTSTRAP).read())
    modules = {
        alias.name.split('.')[0]
        for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split('.')[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert modules and modules <= set(sys.stdlib_module_names)
    assert not any(
        isinstance(node, ast.ImportFrom) and node.level > 0
        for node in ast.walk(tree))


def test_bootstrap_installs_what_is_missing_and_keeps_what_is_there(tmp_path):
    bundle = tmp_path / 'bundle'
    installed = importlib.metadata.version('addict')
    wheels = [
        write_wheel(bundle / 'wheels', 'gpu-proof-probe', '0.1',
                    'gpu_proof_probe'),
        write_wheel(bundle / 'wheels', 'addict', installed),
        write_wheel(bundle / 'wheels', 'termcolor', '0.0.1'),
    ]
    (bundle / 'wheels' / 'broken-9.whl').write_text('not a zip')
    entries = [
        dict(name=n, version=v, file=osp.relpath(w, bundle))
        for (n, v), w in zip([('gpu-proof-probe', '0.1'), (
            'addict', installed), ('termcolor', '0.0.1')], wheels)
    ] + [dict(name='broken', version='9', file='wheels/broken-9.whl')]
    (bundle / 'manifest.json').write_text(json.dumps(dict(wheels=entries)))
    # As tools/gpu_proof/run.py does it: the module loaded by its path, in
    # a process where one expected module is missing.
    script = f'''
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('bootstrap', {BOOTSTRAP!r})
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
bootstrap.EXPECTED_MODULES['no_such_module_here'] = 'no-such-wheel'
result = bootstrap.install_missing({str(bundle)!r}, {str(tmp_path / 'site')!r})
import gpu_proof_probe
result['probe'] = gpu_proof_probe.ANSWER
print('RESULT' + json.dumps(result))
'''
    done = subprocess.run([sys.executable, '-c', script],
                          capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.split('RESULT')[1])
    assert result['installed'] == {'gpu-proof-probe': '0.1'}
    assert result['probe'] == 42
    assert result['present']['addict'] == installed
    assert result['present']['termcolor'].endswith(
        '(bundle: 0.0.1, not installed)')
    assert list(result['failed']) == ['broken']
    assert result['missing_modules'] == {
        'no_such_module_here': 'no-such-wheel'
    }
    assert 'missing and not in the bundle: no_such_module_here' in done.stdout
    # Nothing went into this environment.
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version('gpu-proof-probe')


@pytest.mark.subprocess
def test_a_failed_step_does_not_stop_the_others_and_a_limit_is_hard(tmp_path):
    # 'cuda' on a machine without one: the smoke step fails, saying why;
    # without data the distributed step is skipped, saying why.
    settings = ProofSettings.dry(
        str(tmp_path / 'results'),
        str(tmp_path / 'work'),
        device='cuda',
        steps=['smoke', 'distributed'])
    statuses = run_proof(settings, log=lambda line: None)
    assert statuses['smoke']['status'] == 'failed'
    assert 'torch.cuda.is_available() is False' in statuses['smoke']['why']
    assert statuses['distributed'] == dict(
        status='skipped',
        seconds=statuses['distributed']['seconds'],
        why='no data: run with --bundle holding a data slice')
    for step in ('training', 'inference', 'scratch'):
        assert statuses[step] == dict(status='not asked')
    report = (tmp_path / 'results' / 'gpu_proof.md').read_text()
    assert '| smoke | failed |' in report
    assert '| distributed | skipped |' in report
    # A step past its limit is stopped (3000 loss steps take minutes);
    # what it recorded before stays.
    settings = ProofSettings.dry(
        str(tmp_path / 'results2'),
        str(tmp_path / 'work2'),
        steps=['training'],
        loss_steps=3000,
        time_limit=30)
    statuses = run_proof(settings, log=lambda line: None)
    assert statuses['training']['status'] == 'failed'
    assert statuses['training']['why'] == 'stopped at its 30 s limit'
    assert statuses['training']['seconds'] < 30 + 10 + 5
    recorded = settings.read_record('training')
    assert 'loss_curves' not in recorded
    assert 'SSFormer-S' in recorded['throughput']


@pytest.mark.slow
@pytest.mark.subprocess
def test_dry_run_end_to_end(tmp_path, fake_index, pranet_like):
    _build(tmp_path, fake_index, pranet_like)
    results, work = tmp_path / 'results', tmp_path / 'work'
    done = subprocess.run([
        sys.executable, RUN, '--dry-run', '--bundle',
        str(tmp_path / 'bundle'), '--results',
        str(results), '--work-dir',
        str(work)
    ],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # What comes back from a leased machine: a few files, no folders.
    assert sorted(os.listdir(results)) == sorted(REPORT_FILES)
    report = json.loads((results / 'gpu_proof.json').read_text())
    assert {s: v['status']
            for s, v in report['statuses'].items()} == dict(
                smoke='ok',
                training='ok',
                distributed='ok',
                inference='ok',
                scratch='ok')
    assert report['machine']['nvidia_smi']  # its output, or 'not found'
    assert 'torch==' in report['machine']['pip_list']
    steps = report['steps']
    assert steps['smoke']['first_training_step']['loss'] > 0
    # Training: both models, every CPU recipe, and the fp16 one named.
    for model in ('SSFormer-S', 'SSFormer-L'):
        rows = steps['training']['throughput'][model]
        assert [row['name'] for row in rows] == [
            'fp32', 'AMP bf16', 'channels_last',
            'channels_last + AMP bf16 + fused AdamW'
        ]
        assert all(row['img_per_s'] > 0 and row['batch_size'] == 2
                   for row in rows)
    assert 'needs CUDA' in steps['training']['not_run']['AMP fp16']
    curves = steps['training']['loss_curves']
    assert curves['data'] == 'carried training pairs'
    fp32, amp = curves['curves']['fp32'], curves['curves']['AMP bf16']
    assert len(fp32) == len(amp) == 3
    assert curves['max_abs_difference'] == pytest.approx(
        max(abs(a - b) for a, b in zip(fp32, amp)))
    assert curves['max_abs_difference'] < 0.1 * fp32[0]
    # Where fp32's and AMP's steps spend their time: operators per step
    # and the ones with the most CPU time (no device on a CPU).
    profile = steps['training']['profile']
    assert profile['model'] == 'SSFormer-S'
    assert list(profile['recipes']) == ['fp32', 'AMP bf16']
    for row in profile['recipes'].values():
        assert row['device_busy_ms'] is None and row['kernels'] is None
        assert row['ops'] > 100
        assert len(row['top']) == 5 and all(t['ms'] > 0 for t in row['top'])
    compiled = steps['training']['compile']
    assert isinstance(
        compiled,
        list) and compiled[1]['name'].endswith('+ torch.compile (eager)')
    # The launch probe: every phase timed, one all-reduce summed right.
    launch = steps['distributed']['launch']
    assert launch['backend'] == 'gloo' and launch['all_reduce_ok']
    assert 'error' not in launch
    assert all(launch[key] >= 0 for key in LAUNCH_PHASES)
    assert launch['total_s'] >= launch['worker_started_s']
    # One gloo process through dist_train.sh, then tools/test.py.
    train = steps['distributed']['train']
    assert train['distributed'] and train['backend'] == 'gloo'
    assert 'refuses SyncBatchNorm' in steps['distributed']['sync_bn']
    sets = steps['distributed']['test']['sets']
    assert {name: s['images']
            for name, s in sets.items()} == {
                'Kvasir': 2,
                'CVC-ClinicDB': 2,
                'mean': 4
            }
    # It proves the checkpoint scores; intervals are the scratch step's.
    assert steps['distributed']['test']['intervals'] is None
    assert steps['scratch']['test']['intervals']['method'] == 'BCa'
    # Inference at each batch; ONNX Runtime on the CPU provider.
    for batch in ('1', '2'):
        names = [
            r['name'] for r in steps['inference']['pytorch']['batches'][batch]
        ]
        assert names == ['eager fp32', 'eager fp32 channels_last', 'fast bf16']
        onnx = steps['inference']['onnxruntime']['batches'][batch]
        assert onnx['max_abs_diff'] < 1e-3
    # From scratch: the planned iterations, then the test sets.
    assert steps['scratch']['train']['iterations'] == 4
    scratch = steps['scratch']['test']['sets']
    assert set(scratch) == {'Kvasir', 'CVC-ClinicDB', 'mean'}
    assert 0 <= scratch['Kvasir']['scores']['meanDic']['value'] <= 1
    markdown = (results / 'gpu_proof.md').read_text()
    for heading in ('## Training', '## dist_train.sh', '## Inference',
                    '## SSFormer-S from scratch'):
        assert heading in markdown
    assert (results / 'loss_curves.csv').read_text().splitlines()[0] == \
        'step,fp32,AMP bf16'


@pytest.mark.subprocess
def test_without_an_importable_package_the_report_says_why(tmp_path):
    # A package that cannot be imported (as without OpenCV): the machine's
    # facts are still logged and the report names the cause.
    shadow = tmp_path / 'shadow' / 'ssformer_mmseg'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py'
     ).write_text('raise ImportError("No module named \'cv2\'")\n')
    results = tmp_path / 'results'
    done = subprocess.run([
        sys.executable, RUN, '--dry-run', '--results',
        str(results), '--work-dir',
        str(tmp_path / 'work')
    ],
                          capture_output=True,
                          text=True,
                          env=dict(
                              os.environ, PYTHONPATH=str(tmp_path / 'shadow')))
    assert done.returncode == 1, done.stderr
    assert 'cannot import ssformer_mmseg' in done.stderr
    assert ('No step could run: importing ssformer_mmseg failed (No module '
            "named 'cv2')") in (results / 'gpu_proof.md').read_text()
    log = (results / 'gpu_proof.log').read_text()
    assert 'pip list:' in log and 'nvidia-smi' in log


@pytest.mark.subprocess
def test_unknown_steps_are_named(tmp_path):
    done = subprocess.run([
        sys.executable, RUN, '--dry-run', '--steps', 'smoke', 'warmup',
        '--results',
        str(tmp_path / 'results'), '--work-dir',
        str(tmp_path / 'work')
    ],
                          capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert ('unknown steps warmup; the steps: smoke, training, distributed, '
            'inference, scratch') in done.stderr


def test_report_of_a_cuda_run_from_its_records(tmp_path):
    # The records a CUDA run writes, by hand: the report renders each part.
    from ssformer_mmseg.gpu_proof.report import write_report
    settings = ProofSettings(str(tmp_path / 'results'), str(tmp_path / 'w'))
    os.makedirs(tmp_path / 'results')
    os.makedirs(tmp_path / 'w' / 'steps')
    row = dict(
        name='fp32', img_per_s=100.0, speedup=1.0, p50_ms=160.0, peak_mb=9e3)
    test = dict(
        intervals=dict(method='BCa'),
        sets=dict(
            Kvasir=dict(
                images=100,
                scores=dict(
                    meanDic=dict(value=0.8, ci_low=0.77, ci_high=0.83)))))
    records = dict(
        smoke=dict(
            versions=dict(torch='2.11.0+cu130'),
            package='/site/ssformer_mmseg',
            device=dict(
                name='NVIDIA H100 80GB HBM3',
                capability='9.0',
                memory_gib=79.2,
                nccl='2.27.3',
                tf32_matmul=False,
                tf32_cudnn=True)),
        training=dict(
            throughput={'SSFormer-S': [row, dict(row, name='AMP fp16')]},
            profile=dict(
                model='SSFormer-S',
                recipes={
                    'fp32':
                    dict(
                        device_busy_ms=120.0,
                        kernels=1800.0,
                        ops=5000.0,
                        top=[
                            dict(name='aten::convolution_backward', ms=30.0),
                            dict(name='aten::mm', ms=20.0)
                        ]),
                    'AMP fp16':
                    dict(
                        device_busy_ms=64.0,
                        kernels=3100.0,
                        ops=8000.0,
                        top=[dict(name='aten::mm', ms=9.5)])
                }),
            loss_curves=dict(
                model='SSFormer-S',
                data='carried training pairs',
                curves={
                    'fp32': [1.0, 0.9],
                    'AMP fp16': [1.0, 0.91]
                },
                max_abs_difference=0.01,
                final={
                    'fp32': 0.9,
                    'AMP fp16': 0.91
                }),
            compile='not run: 40 s left, under the 90 s it may take'),
        distributed=dict(
            launch=dict(
                worker_started_s=3.1,
                import_torch_s=2.0,
                host_name_lookup_s=0.01,
                backend='nccl',
                init_process_group_s=0.2,
                first_all_reduce_s=1.5,
                barrier_s=0.01,
                destroy_process_group_s=0.3,
                launcher_exit_s=1.2,
                total_s=8.4),
            train=dict(
                iterations=20,
                seconds=30.0,
                distributed=True,
                backend='nccl 2.27.3',
                sync_bn=True),
            test=test),
        inference=dict(
            pytorch=dict(
                model='SSFormer-S',
                batches={'1': [dict(row, max_abs_diff=0.0)]}),
            onnxruntime=dict(not_run='onnxruntime 1.30.0 has no CUDA '
                             'provider (CPUExecutionProvider)')),
        scratch=dict(
            plan=dict(seconds=150, iterations=400),
            train=dict(
                iterations=380, planned=400, seconds=151.0, images=6080),
            test=test))
    for step, record in records.items():
        with open(settings.step_record(step), 'w') as f:
            json.dump(record, f)
    statuses = {step: dict(status='ok', seconds=1.0) for step in records}
    write_report(settings, statuses)
    markdown = (tmp_path / 'results' / 'gpu_proof.md').read_text()
    for text in ('NVIDIA H100 80GB HBM3, 79.2 GiB, compute capability 9.0, '
                 'NCCL 2.27.3; TF32 in fp32 matmuls False',
                 '| SSFormer-S | AMP fp16 | 100.0 | 1.00 | 160.0 | 9000 |',
                 'torch.compile: not run: 40 s left',
                 '| fp32 | 160.0 | 120.0 | 75% | 1800 | 5000 | '
                 'aten::convolution_backward 30.0, aten::mm 20.0 |',
                 '| AMP fp16 | 160.0 | 64.0 | 40% | 3100 | 8000 | aten::mm '
                 '9.5 |',
                 'backend nccl 2.27.3; sync_bn=torch in the config: True',
                 '| Kvasir | 100 | 0.800 | 0.770–0.830 |',
                 'ONNX Runtime: not run: onnxruntime 1.30.0 has no CUDA',
                 '380 iterations (6080 images) in 151.0 s (planned 400',
                 'Launch probe (torchrun, one worker, nccl): torchrun to '
                 'worker 3.1 s, import torch 2.0 s, host name lookup 0.01 s, '
                 'init_process_group 0.2 s, first all-reduce 1.5 s, barrier '
                 '0.01 s, destroy_process_group 0.3 s, launcher exit 1.2 s; '
                 '8.4 s in all.'):
        assert text in markdown, text
    assert (tmp_path / 'results' / 'loss_curves.png').stat().st_size > 0


def test_report_of_a_launch_that_hung_names_the_phase(tmp_path):
    # What the distributed step records when torchrun's worker hangs in
    # its first collective and dist_train.sh is stopped: the report says
    # where, with no training table.
    from ssformer_mmseg.gpu_proof.report import write_report
    settings = ProofSettings(str(tmp_path / 'results'), str(tmp_path / 'w'))
    os.makedirs(tmp_path / 'results')
    os.makedirs(tmp_path / 'w' / 'steps')
    launch = dict(
        worker_started_s=2.5,
        import_torch_s=1.9,
        host_name_lookup_s=10.02,
        backend='nccl',
        init_process_group_s=0.1,
        total_s=25.3,
        error='the launch probe ran past 25 s and was stopped; its log: x')
    with open(settings.step_record('distributed'), 'w') as f:
        json.dump(dict(launch=launch), f)
    why = 'tools/dist_train.sh ran past 60 s and was stopped; its log: y'
    write_report(settings,
                 dict(distributed=dict(status='failed', seconds=99, why=why)))
    markdown = (tmp_path / 'results' / 'gpu_proof.md').read_text()
    assert (
        'host name lookup 10.02 s, init_process_group 0.1 s; 25.3 s in '
        'all. **Failed** (the launch probe ran past 25 s and was '
        'stopped; its log: x), in the phase "first all-reduce".') in markdown
    assert '## dist_train.sh, one process' in markdown
    assert 'iterations in' not in markdown
