"""The benchmark's report: model complexity, the environment, tables."""
from typing import Dict, List

import torch

from ..cpu_features import cpu_description
from .options import BenchmarkOptions


def complexity(model, shape) -> Dict[str, float]:
    from mmengine.analysis import get_model_complexity_info
    model.eval()
    info = get_model_complexity_info(
        model,
        inputs=(torch.randn(1, 3, *shape), ),
        show_table=False,
        show_arch=False)
    return dict(gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6)


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
