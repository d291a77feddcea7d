"""The benchmark's report: model complexity, the environment, tables."""
from typing import Dict, List

import torch

from ..cpu_features import cpu_description
from ..evaluation.intervals import format_bounds
from .options import BenchmarkOptions


def complexity(model, shape) -> Dict[str, float]:
    """GFLOPs (multiply-adds, as mmengine counts them) at ``shape`` and
    millions of parameters, without mmengine's warnings (the names of every
    op and module its counter skips, some 4 KB for SSFormer)."""
    from mmengine.analysis import FlopAnalyzer, parameter_count
    model.eval()
    flops = FlopAnalyzer(model, (torch.randn(1, 3, *shape), ))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(
        False).tracer_warnings('none')
    return dict(
        gflops=flops.total() / 1e9, params_m=parameter_count(model)[''] / 1e6)


def format_inference(rows: List[dict]) -> str:
    lines = [
        f'{"inference":<28} {"img/s":>8} {"x eager":>7} {"p50 ms":>8} '
        f'{"p90 ms":>8} {"peak MB":>8} {"max |dlogit|":>12}'
    ]
    for row in rows:
        lines.append(f'{row["name"]:<28} {row["img_per_s"]:8.2f} '
                     f'{row["speedup"]:7.2f} {row["p50_ms"]:8.1f} '
                     f'{row["p90_ms"]:8.1f} {row["peak_mb"]:8.0f} '
                     f'{row["max_abs_diff"]:12.2e}')
    return '\n'.join(lines)


def format_kernels(rows: List[dict]) -> str:
    """The kernel table: the fast path with and without each kernel."""
    lines = [
        f'{"kernel":<14} {"precision":<9} {"with ms":>8} {"without ms":>10} '
        f'{"earns":>7} {"max |dlogit|":>12}  verdict'
    ]
    for row in rows:
        verdict = 'keep' if row['keeps'] else 'under 5 %'
        lines.append(f'{row["kernel"]:<14} {row["precision"]:<9} '
                     f'{row["with_ms"]:8.1f} {row["without_ms"]:10.1f} '
                     f'{100 * row["gain"]:6.1f}% {row["max_abs_diff"]:12.2e}'
                     f'  {verdict}')
    return '\n'.join(lines)


def format_engines(report: dict) -> str:
    """The engine comparison's table, skipped rows, recommendation."""
    batch = report['throughput_batch']
    # OpenVINO's version carries its build ('2026.4.1-22982-...').
    versions = ', '.join(f'{name} {version.split("-")[0]}'
                         for name, version in report['versions'].items()
                         if version is not None)
    lines = [
        f'engines ({versions}); ratios are to eager fp32 in the same '
        'rounds; held MB: memory a row keeps, peak MB: extra memory of a '
        'call', f'{"":35} {" 1 frame ":-^33} {f" {batch} frames ":-^24}',
        f'{"engine":<26} {"held MB":>8} {"img/s":>7} {"x eager":>7} '
        f'{"p50 ms":>8} {"peak MB":>8} {"img/s":>7} {"x eager":>7} '
        f'{"peak MB":>8} {"max |dlogit|":>12} {"max |dprob|":>11}'
    ]
    for row in report['rows']:
        one, many = row['latency'], row['throughput']
        lines.append(f'{row["name"]:<26} {row["held_mb"]:8.0f} '
                     f'{one["img_per_s"]:7.2f} '
                     f'{one["speedup"]:7.2f} {one["p50_ms"]:8.1f} '
                     f'{one["peak_mb"]:8.0f} {many["img_per_s"]:7.2f} '
                     f'{many["speedup"]:7.2f} {many["peak_mb"]:8.0f} '
                     f'{row["max_abs_logit_diff"]:12.2e} '
                     f'{row["max_abs_prob_diff"]:11.2e}')
    for entry in report['skipped']:
        lines.append(f'skipped {entry["name"]}: {entry["reason"]}')
    inputs = report['inputs']
    if inputs['source'] == 'random frames':
        lines.append('timed and int8-calibrated on RANDOM frames '
                     f'({inputs["description"]}); give data_root for real '
                     'ones')
    else:
        lines.append(f'timed on {inputs["timed_frames"]} frames and int8-'
                     f'calibrated on {inputs["count"]} other frames of the '
                     f'{inputs["source"]} ({inputs["description"]})')
    if not report['trained_weights']:
        lines.append('random weights (no checkpoint): the differences are '
                     'those of random weights, not of a trained model')
    rows = {row['name']: row for row in report['rows']}
    for mode, what in (('latency', 'single frames'),
                       ('throughput', f'throughput ({batch} frames)')):
        name = report['recommended'][mode]
        if name is None:
            lines.append(f'recommended here for {what}: none within max '
                         f'|dprob| {report["prob_tolerance"]}')
            continue
        row = rows[name]
        lines.append(f'recommended here for {what}: {name} '
                     f'({row[mode]["speedup"]:.1f}x eager fp32; max |dprob| '
                     f'{row["max_abs_prob_diff"]:.2g})')
    return '\n'.join(lines)


def format_target_fps(report: dict) -> str:
    """The input-size sweep's table and what reaches the target."""
    target = report['target_fps']
    trained = 'x'.join(map(str, report['trained_size']))
    lines = [
        'input size x engine x precision, one frame at a time (the whole '
        f'segmenter) on {report["frames"]} frames; target {target:g} '
        f'frames/s; trained at {trained}',
        f'{"combination":<34} {"frames/s":>8} {"p50 ms":>8} {"p90 ms":>8} '
        f'{"meanDic":>8} {"ΔmeanDic":>9}  Δ 95% CI (paired bootstrap)'
    ]
    for row in report['rows']:
        scores = (f'{row["meanDic"]:8.4f} {row["delta_meanDic"]:+9.4f}  '
                  f'{format_bounds(row["delta_meanDic_ci"], signed=True)}'
                  if 'meanDic' in row else f'{"-":>8} {"-":>9}')
        lines.append(f'{row["name"]:<34} {row["fps"]:8.2f} '
                     f'{row["p50_ms"]:8.1f} {row["p90_ms"]:8.1f} {scores}')
    for entry in report['skipped']:
        lines.append(f'skipped {entry["name"]}: {entry["reason"]}')
    if not report['scored']:
        lines.append('not scored (give a checkpoint and the config\'s test '
                     'data): the choice is the largest input, then the '
                     'highest precision')
    rows = {row['name']: row for row in report['rows']}
    name = report['recommended']
    if name is None:
        fastest = rows[report['fastest']]
        lines.append(f'no combination reaches {target:g} frames/s here; the '
                     f'fastest is {fastest["name"]} ({fastest["fps"]:.1f} '
                     'frames/s)')
    else:
        row = rows[name]
        scored = (f', meanDic {row["meanDic"]:.4f} '
                  f'({row["delta_meanDic"]:+.4f} against fp32 at '
                  f'{trained})' if 'meanDic' in row else '')
        lines.append(f'recommended here for {target:g} frames/s: {name} '
                     f'({row["fps"]:.1f} frames/s{scored})')
    return '\n'.join(lines)


def format_training(report: dict) -> str:
    lines = [
        f'{"training step":<58} {"img/s":>8} {"x eager":>7} '
        f'{"p50 ms":>8}'
    ]
    for row in report['steps']:
        lines.append(f'{row["name"]:<58} {row["img_per_s"]:8.2f} '
                     f'{row["speedup"]:7.2f} {row["p50_ms"]:8.1f}')
    (plain, plain_losses), (fast, fast_losses) = report['loss_curves'].items()
    lines.append(f'losses, same weights and batches: step  {plain:>10}  '
                 f'{"fast":>10}')
    for step, (a, b) in enumerate(zip(plain_losses, fast_losses), 1):
        lines.append(f'{"":34}{step:5d}  {a:10.4f}  {b:10.4f}')
    return '\n'.join(lines)


def environment(options: BenchmarkOptions) -> dict:
    """Where the figures come from: device, its name (the CPU with its
    vector ISA and whether bf16 is native), threads, torch version."""
    return dict(
        device=options.device,
        shape=list(options.shape),
        batch_size=options.batch_size,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        device_name=torch.cuda.get_device_name()
        if options.device.startswith('cuda') else cpu_description())
