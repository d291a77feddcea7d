"""The GPU proof's report: a few files in the results folder (the folder
that comes back from a leased machine holds files, no subfolders).

``gpu_proof.md`` (every table), ``gpu_proof.json`` (every figure, the
bootstrap's ``pip list`` and ``nvidia-smi``), ``loss_curves.png`` and
``loss_curves.csv`` (fp32 against AMP), beside ``gpu_proof.log``, the run's
whole output, which :func:`~ssformer_mmseg.gpu_proof.proof.run_proof`
writes.
"""
import csv
import datetime
import json
import os.path as osp
from typing import Dict, List, Optional

from .settings import STEP_NAMES, ProofSettings

#: The files of the results folder.
REPORT_FILES = ('gpu_proof.md', 'gpu_proof.json', 'gpu_proof.log',
                'loss_curves.png', 'loss_curves.csv')


def write_report(settings: ProofSettings,
                 statuses: Dict[str, dict],
                 machine: Optional[dict] = None,
                 install: Optional[dict] = None) -> dict:
    """Write ``gpu_proof.{md,json}`` (and the loss curves, once measured)
    from the steps' records; returns the JSON's content."""
    records = {step: settings.read_record(step) for step in STEP_NAMES}
    report = dict(
        written=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        dry_run=settings.dry_run,
        device=settings.device,
        statuses=statuses,
        steps=records,
        machine=machine or {},
        install=install or {})
    out = settings.results_dir
    with open(osp.join(out, 'gpu_proof.json'), 'w') as f:
        json.dump(report, f, indent=1, default=str)
    curves = records['training'].get('loss_curves')
    if curves:
        _write_curves(curves, out)
    with open(osp.join(out, 'gpu_proof.md'), 'w') as f:
        f.write(markdown(settings, statuses, records, install) + '\n')
    return report


def _write_curves(curves: dict, out: str) -> None:
    from ..visualization.plots import plot_loss_curves
    names = list(curves['curves'])
    with open(osp.join(out, 'loss_curves.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['step', *names])
        for step, losses in enumerate(zip(*curves['curves'].values()), 1):
            writer.writerow([step, *(f'{loss:.6f}' for loss in losses)])
    plot_loss_curves(
        curves['curves'], osp.join(out, 'loss_curves.png'),
        f'{curves["model"]}: {" vs ".join(names)}, same weights and '
        f'batches ({curves["data"]})')


def _table(header: List[str], rows: List[list]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += [
        '| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows
    ]
    return lines


def _scores(test: dict) -> List[str]:
    rows = []
    for name, entry in test.get('sets', {}).items():
        score = entry['scores'].get('meanDic', {})
        bounds = '–' if score.get('ci_low') is None else \
            f'{score["ci_low"]:.3f}–{score["ci_high"]:.3f}'
        rows.append(
            [name, entry['images'], f'{score.get("value", 0):.3f}', bounds])
    return _table(['test set', 'images', 'meanDic', '95% CI'], rows)


def markdown(settings: ProofSettings, statuses: Dict[str, dict],
             records: Dict[str, dict], install: Optional[dict]) -> str:
    """The report as Markdown."""
    smoke = records['smoke']
    device = smoke.get('device', {})
    versions = smoke.get('versions', {})
    lines = [
        '# GPU proof' +
        (' (dry run: tiny model, CPU)' if settings.dry_run else ''), '',
        f'- Device: {device.get("name", settings.device)}' +
        (f', {device["memory_gib"]} GiB, compute capability '
         f'{device["capability"]}, NCCL {device["nccl"]}; TF32 in fp32 '
         f'matmuls {device["tf32_matmul"]}, convolutions '
         f'{device["tf32_cudnn"]}' if 'memory_gib' in device else ''),
        '- Versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items()),
        f'- Package imported from: {smoke.get("package", "?")}'
    ]
    if install:
        installed = ', '.join(install['installed']) or 'none'
        lines += [
            f'- Bundle: installed {installed}; '
            f'already there {len(install["present"])}; failed '
            f'{", ".join(install["failed"]) or "none"}; missing modules '
            f'{", ".join(install["missing_modules"]) or "none"}'
        ]
    lines.append('')
    lines += _table(['step', 'status', 'seconds', 'why'], [[
        step, status['status'],
        status.get('seconds', ''),
        status.get('why') or ''
    ] for step, status in statuses.items()])
    lines += _training(settings, records['training'])
    lines += _distributed(records['distributed'])
    lines += _inference(records['inference'])
    lines += _scratch(records['scratch'])
    return '\n'.join(lines)


def _training(settings: ProofSettings, record: dict) -> List[str]:
    if not record:
        return []
    lines = [
        '', f'## Training, {settings.shape[0]}x{settings.shape[1]}, batch '
        f'{settings.batch}', ''
    ]
    rows = []
    for model, recipes in record.get('throughput', {}).items():
        for row in recipes:
            rows.append([
                model, row['name'], f'{row["img_per_s"]:.1f}',
                f'{row["speedup"]:.2f}', f'{row["p50_ms"]:.1f}',
                f'{row["peak_mb"]:.0f}'
            ])
    lines += _table(
        ['model', 'recipe', 'img/s', 'x fp32', 'p50 ms', 'peak MiB'], rows)
    for recipe, why in record.get('not_run', {}).items():
        lines.append(f'\nNot run: {recipe}: {why}.')
    lines += _profile(record.get('profile'), record.get('throughput', {}))
    compiled = record.get('compile')
    if isinstance(compiled, list):
        lines += ['', 'torch.compile:', '']
        lines += _table(
            ['recipe', 'img/s', 'x first'],
            [[row['name'], f'{row["img_per_s"]:.1f}', f'{row["speedup"]:.2f}']
             for row in compiled])
    elif compiled:
        lines.append(f'\ntorch.compile: {compiled}.')
    curves = record.get('loss_curves')
    if curves:
        final = ', '.join(f'{name} {loss:.4f}'
                          for name, loss in curves['final'].items())
        lines += [
            '', f'Loss curves ({curves["model"]}, '
            f'{len(next(iter(curves["curves"].values())))} steps, '
            f'{curves["data"]}, same weights): final {final}; largest '
            f'per-step difference {curves["max_abs_difference"]:.4f} '
            '(loss_curves.png, loss_curves.csv).'
        ]
    return lines


#: The launch probe's phases, in order, as the report names them.
LAUNCH_PHASES = dict(
    worker_started_s='torchrun to worker',
    import_torch_s='import torch',
    host_name_lookup_s='host name lookup',
    init_process_group_s='init_process_group',
    first_all_reduce_s='first all-reduce',
    barrier_s='barrier',
    destroy_process_group_s='destroy_process_group',
    launcher_exit_s='launcher exit')


def _launch(launch: dict) -> List[str]:
    if not launch:
        return []
    phases = [(name, launch[key]) for key, name in LAUNCH_PHASES.items()
              if key in launch]
    unfinished = next(
        (name for key, name in LAUNCH_PHASES.items() if key not in launch),
        None)
    text = (f'Launch probe (torchrun, one worker, {launch.get("backend", "?")}'
            f'): ' + ', '.join(f'{name} {seconds} s'
                               for name, seconds in phases) +
            f'; {launch.get("total_s", "?")} s in all')
    if launch.get('error'):
        text += (f'. **Failed** ({launch["error"]}), in the phase '
                 f'"{unfinished}"'
                 if unfinished else f'. **Failed** ({launch["error"]})')
    return ['', text + '.']


def _profile(profile, throughput: dict) -> List[str]:
    """Where fp32's and AMP's steps spend their time; the step times are
    the throughput table's (unprofiled)."""
    if not profile:
        return []
    if isinstance(profile, str):
        return [f'\nProfile of the training steps: {profile}.']
    p50 = {
        row['name']: row['p50_ms']
        for row in throughput.get(profile['model'], [])
    }
    rows = []
    for name, row in profile['recipes'].items():
        busy = row['device_busy_ms']
        step = p50.get(name)
        share = f'{busy / step:.0%}' if busy is not None and step else '–'
        rows.append([
            name, f'{step:.1f}' if step else '–',
            '–' if busy is None else f'{busy:.1f}', share,
            '–' if row['kernels'] is None else f'{row["kernels"]:.0f}',
            f'{row["ops"]:.0f}', ', '.join(f'{top["name"]} {top["ms"]:.1f}'
                                           for top in row['top'][:3])
        ])
    return [
        '', f'Where a training step\'s time goes ({profile["model"]}, '
        'torch.profiler; ms per step):', ''
    ] + _table([
        'recipe', 'step ms (p50)', 'device busy ms', 'busy', 'kernels',
        'operators', 'most self time (ms)'
    ], rows)


def _distributed(record: dict) -> List[str]:
    lines = _launch(record.get('launch', {}))
    train = record.get('train')
    if not train:
        return ['', '## dist_train.sh, one process'] + lines if lines else []
    sync_bn = f'sync_bn {record["sync_bn"]}' if 'sync_bn' in record else \
        f'sync_bn=torch in the config: {train["sync_bn"]}'
    lines = [
        '', '## dist_train.sh, one process', *lines, '',
        f'{train["iterations"]} iterations in {train["seconds"]} s; '
        f'distributed: {train["distributed"]}, backend {train["backend"]}; '
        f'{sync_bn}.'
    ]
    if record.get('test'):
        lines += ['', 'tools/test.py on its checkpoint:', '']
        lines += _scores(record['test'])
    return lines


def _inference(record: dict) -> List[str]:
    pytorch = record.get('pytorch')
    if not pytorch:
        return []
    lines = ['', f'## Inference, {pytorch["model"]}', '']
    rows = []
    for batch, variants in pytorch['batches'].items():
        for row in variants:
            rows.append([
                batch, row['name'], f'{row["img_per_s"]:.1f}',
                f'{row["speedup"]:.2f}', f'{row["p50_ms"]:.2f}',
                f'{row["peak_mb"]:.0f}', f'{row["max_abs_diff"]:.2e}'
            ])
    lines += _table([
        'batch', 'variant', 'img/s', 'x eager', 'p50 ms', 'peak MiB',
        'max abs dlogit'
    ], rows)
    onnx = record.get('onnxruntime', {})
    if onnx.get('not_run'):
        lines.append(f'\nONNX Runtime: not run: {onnx["not_run"]}.')
    elif onnx.get('batches'):
        lines += [
            '', f'ONNX Runtime {onnx["onnxruntime"]} '
            f'({", ".join(onnx["providers"])}), host arrays in and out:', ''
        ]
        lines += _table([
            'batch', 'onnxruntime img/s', 'eager fp32 img/s', 'max abs dlogit'
        ], [[
            batch, f'{row["ONNX Runtime"]["img_per_s"]:.1f}',
            f'{row["eager fp32"]["img_per_s"]:.1f}',
            f'{row["max_abs_diff"]:.2e}'
        ] for batch, row in onnx['batches'].items()])
    return lines


def _scratch(record: dict) -> List[str]:
    train = record.get('train')
    if not train:
        return []
    plan = record.get('plan', {})
    lines = [
        '', '## SSFormer-S from scratch, AMP, the carried pairs', '',
        f'{train["iterations"]} iterations ({train["images"]} images) in '
        f'{train["seconds"]} s (planned {plan.get("iterations")} in '
        f'{plan.get("seconds")} s).'
    ]
    if record.get('test'):
        lines += [''] + _scores(record['test'])
    return lines
