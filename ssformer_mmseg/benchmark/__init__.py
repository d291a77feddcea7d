"""Measure the plain and the fast paths of a segmentor, side by side.

Inference: ``model(inputs, mode='tensor')`` at the given size and batch for
the plain eager fp32 model (the baseline), the plain model in channels_last,
and :func:`~ssformer_mmseg.optimize.optimize_for_inference` at each requested
precision (and under ``torch.compile`` with ``--compile``): throughput
(img/s), latency p50 / p90, peak memory and the largest logit difference
from the baseline. The variants run in interleaved rounds and the speed-up
is the median of per-round ratios, so a noisy shared machine slows all of
them alike.

Engines (``--engines``, instead of the above): the same network in PyTorch
eager fp32 (the baseline), the PyTorch fast path in fp32 and bf16, ONNX
Runtime fp32 and int8 and OpenVINO fp32, bf16 and int8 (bf16 where the CPU
has it natively; engines whose packages are missing are skipped, saying
so), at batch-1 latency and at throughput over ``--throughput-batch``
frames, with the largest logit and probability difference from the
baseline and the fastest row within ``--prob-tolerance`` recommended. int8
is calibrated on real training frames when the config's ``data_root``
exists, else on random frames (the report says which).

Target frame rate (``--target-fps N``, instead of the above): each input
size of ``--sizes`` with every engine and precision that runs here, the
whole segmenter timed one frame at a time, scored with a checkpoint
against fp32 at the trained size; the most accurate combination that
reaches N frames/s is recommended (:mod:`.target_fps`).

Kernels (``--kernels``, instead of the above): the fast path at each
precision whole and without each of its hand-written kernels (Winograd,
the fused convolutions, the fused projection + residual), and what each
earns; one that earns under 5 % in every measured model and precision has
no place in the fast path.

Training (``--train``): forward, loss, backward and AdamW step of the plain
fp32 model against the fast recipe (channels_last + AMP, bf16 on CPU / fp16
on CUDA + fused AdamW) and each ingredient alone, plus the losses of a short
run of both from the same weights on the same batches.

Data (``--data``): training-pipeline samples/s of the config's training set
(full augmentation) with 0, 1, 2, ... loader workers.

FLOPs and parameters come from mmengine's analysis tools.
:func:`run_benchmark` returns the report and logs each table;
``tools/benchmark.py`` prints them and writes the JSON file.

Modules: :mod:`.measure` (timing, memory), :mod:`.inference`,
:mod:`.engines`, :mod:`.target_fps`, :mod:`.kernels`, :mod:`.training`,
:mod:`.data`, :mod:`.report`, :mod:`.metric` (the cost of the evaluation
protocol), :mod:`.video_clip` (a real clip, and what a segmenter keeps of
its speed on it). Not
imported by ``import ssformer_mmseg``.
"""
import copy
from typing import Optional

from mmengine.config import Config

from ..apis.loading import load_segmentor
from .data import benchmark_data
from .engines import benchmark_engines
from .inference import benchmark_inference
from .kernels import benchmark_kernels
from .options import BenchmarkOptions
from .report import (complexity, environment, format_engines, format_inference,
                     format_kernels, format_target_fps, format_training)
from .target_fps import benchmark_target_fps
from .training import benchmark_training


def run_benchmark(cfg: Config, checkpoint: Optional[str],
                  options: BenchmarkOptions) -> dict:
    """Measure what ``options`` asks for; returns the report (the JSON the
    tool writes) and logs each table through ``options.log`` as it is done.

    Args:
        cfg (Config): The model's config (not modified).
        checkpoint (str, optional): Weights, loaded strictly as everywhere
            else; speed does not depend on them, max |dlogit| does.
        options (BenchmarkOptions): What to measure.
    """
    model = load_segmentor(cfg, checkpoint, options.device)
    info = complexity(load_segmentor(cfg, None, 'cpu'), options.shape)
    env = environment(options)
    options.log(
        f'{cfg.filename}: {info["params_m"]:.1f} M parameters, '
        f'{info["gflops"]:.1f} GFLOPs (multiply-adds, as mmengine counts) '
        f'at {options.shape[0]}x{options.shape[1]}; batch '
        f'{options.batch_size}, {env["threads"]} threads, '
        f'{env["device_name"]}')
    report = dict(environment=dict(env, config=cfg.filename), complexity=info)
    if options.target_fps is not None:
        report['target_fps'] = benchmark_target_fps(cfg, checkpoint, options)
        options.log(format_target_fps(report['target_fps']))
    elif options.engines:
        report['engines'] = benchmark_engines(
            cfg, model, options, trained=checkpoint is not None)
        options.log(format_engines(report['engines']))
    elif options.kernels:
        report['kernels'] = benchmark_kernels(model, options)
        options.log(format_kernels(report['kernels']))
    else:
        report['inference'] = benchmark_inference(model, options)
        options.log(format_inference(report['inference']))
    if options.train:
        report['training'] = benchmark_training(model, options)
        options.log(format_training(report['training']))
    if options.data:
        options.log('training data pipeline (full augmentation):')
        report['data'] = benchmark_data(copy.deepcopy(cfg), options)
    return report


__all__ = ['BenchmarkOptions', 'run_benchmark']
