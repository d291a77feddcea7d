"""The GPU proof's measuring steps: ``smoke`` (versions, the device,
SSFormer-S built on it, one training step), ``training`` (training img/s
and peak memory per recipe, fp32 against AMP loss curves, compile) and
``inference`` (eager fp32 against the fast path, ONNX Runtime on the
device)."""
import itertools
import math
import os
import os.path as osp
import time
from typing import Dict, List, Optional

import torch

from ..benchmark.measure import interleaved_times, summarize, synchronize
from ..benchmark.training import (Batch, TrainingRecipe, loss_curves,
                                  profile_recipes, random_batches,
                                  time_recipes, train_step, training_recipe)
from .context import StepContext

#: Seconds the training step must have left to profile (a few steps of two
#: recipes, then the profiler's own bookkeeping).
PROFILE_NEEDS_S = 40


def amp_dtypes(device: str) -> List[str]:
    """fp16 (loss-scaled, CUDA only) and bf16."""
    return ['float16', 'bfloat16'] if device.startswith('cuda') else \
        ['bfloat16']


def _free(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.empty_cache()


def _version_text(version) -> str:
    """``(2, 27, 3)`` -> ``'2.27.3'`` (older PyTorch gives one number)."""
    if isinstance(version, (tuple, list)):
        return '.'.join(map(str, version))
    return str(version)


def smoke(ctx: StepContext) -> None:
    import cv2
    import mmcv
    import mmengine
    import mmseg
    import numpy

    import ssformer_mmseg
    ctx.record(
        'versions',
        dict(
            torch=torch.__version__,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            mmengine=mmengine.__version__,
            mmcv=mmcv.__version__,
            mmseg=mmseg.__version__,
            ssformer_mmseg=ssformer_mmseg.__version__,
            numpy=numpy.__version__,
            opencv=cv2.__version__))
    ctx.record('package', osp.dirname(ssformer_mmseg.__file__))
    if ctx.device.startswith('cuda'):
        if not torch.cuda.is_available():
            raise RuntimeError('torch.cuda.is_available() is False: '
                               f'torch {torch.__version__} sees no GPU')
        props = torch.cuda.get_device_properties(0)
        ctx.record(
            'device',
            dict(
                name=props.name,
                capability=f'{props.major}.{props.minor}',
                memory_gib=round(props.total_memory / 2**30, 1),
                multiprocessors=props.multi_processor_count,
                # What fp32 means in the timings: TF32 matmuls or not.
                tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                tf32_cudnn=torch.backends.cudnn.allow_tf32,
                nccl=_version_text(torch.cuda.nccl.version())))
    else:
        from ..cpu_features import cpu_description
        ctx.record('device', dict(name=cpu_description()))
    name = next(iter(ctx.settings.models))
    start = time.perf_counter()
    model = ctx.build(ctx.settings.models[name])
    ctx.record('build_seconds', round(time.perf_counter() - start, 2))
    inputs, samples = random_batches(1, ctx.settings.batch, ctx.settings.shape,
                                     ctx.device, 0)[0]
    net, wrapper = training_recipe(model, ctx.device, TrainingRecipe())
    start = time.perf_counter()
    loss = train_step(net, wrapper, inputs, samples)
    synchronize(ctx.device)
    ctx.record(
        'first_training_step',
        dict(
            model=name,
            loss=loss,
            seconds=round(time.perf_counter() - start, 3)))
    if not math.isfinite(loss):
        raise FloatingPointError(f'the first training step\'s loss is {loss}')
    ctx.log(f'{name} built on {ctx.device}; one training step, loss '
            f'{loss:.4f}')


def training_recipes(device: str) -> Dict[str, TrainingRecipe]:
    """The recipes the training step times, fp32 first (the baseline)."""
    recipes = {'fp32': TrainingRecipe()}
    for dtype in amp_dtypes(device):
        recipes[f'AMP {short_dtype(dtype)}'] = TrainingRecipe(amp=dtype)
    recipes['channels_last'] = TrainingRecipe(channels_last=True)
    amp = amp_dtypes(device)[0]
    recipes[f'channels_last + AMP {short_dtype(amp)} + fused AdamW'] = \
        TrainingRecipe(True, amp, True)
    return recipes


def short_dtype(dtype: str) -> str:
    return dict(float16='fp16', bfloat16='bf16')[dtype]


def real_batches(ctx: StepContext, model: torch.nn.Module,
                 count: int) -> Optional[List[Batch]]:
    """``count`` batches of the carried training pairs through the training
    pipeline and the model's data preprocessor; None without data."""
    if not ctx.settings.data_root:
        return None
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    cfg = ctx.config(ctx.settings.train_config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    loader_cfg = cfg.train_dataloader
    loader_cfg.batch_size = ctx.settings.batch
    loader_cfg.num_workers = min(8, os.cpu_count() or 1) \
        if ctx.device.startswith('cuda') else 0
    loader_cfg.persistent_workers = False
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = []
    with torch.no_grad():
        for data in itertools.islice(loader, count):
            data = model.data_preprocessor(data, True)
            batches.append((data['inputs'], data['data_samples']))
    return batches


def training(ctx: StepContext) -> None:
    settings = ctx.settings
    recipes = training_recipes(ctx.device)
    if not ctx.device.startswith('cuda'):
        ctx.record(
            'not_run', {
                'AMP fp16':
                'fp16 AMP (AmpOptimWrapper with loss scaling) '
                'needs CUDA'
            })
    throughput = {}
    for name, config in settings.models.items():
        ctx.log(f'{name}: {len(recipes)} recipes, batch {settings.batch}, '
                f'{settings.shape[0]}x{settings.shape[1]}')
        model = ctx.build(config)
        batch = random_batches(1, settings.batch, settings.shape, ctx.device,
                               0)[0]
        throughput[name] = time_recipes(model, recipes, batch, ctx.device, 1,
                                        settings.rounds, ctx.log)
        ctx.record('throughput', throughput)
        if name == next(iter(settings.models)):
            curve_model = model
        else:
            del model
        _free(ctx.device)
    amp = f'AMP {short_dtype(amp_dtypes(ctx.device)[0])}'
    ctx.record(
        'profile',
        _profile(ctx, curve_model, {
            'fp32': recipes['fp32'],
            amp: recipes[amp]
        }))
    batches = real_batches(ctx, curve_model, settings.loss_steps)
    source = 'carried training pairs'
    if batches is None:
        source = 'random inputs and masks'
        batches = random_batches(settings.loss_steps, settings.batch,
                                 settings.shape, ctx.device, 1)
    ctx.log(f'loss curves: fp32 and {amp}, {settings.loss_steps} steps on '
            f'{source}')
    curves = loss_curves(curve_model, {
        'fp32': recipes['fp32'],
        amp: recipes[amp]
    }, batches, ctx.device)
    differences = [abs(a - b) for a, b in zip(*curves.values())]
    ctx.record(
        'loss_curves',
        dict(
            model=next(iter(settings.models)),
            data=source,
            curves=curves,
            max_abs_difference=max(differences),
            final={name: values[-1]
                   for name, values in curves.items()}))
    # torch.compile last: its first steps compile, which may take minutes.
    needed = 90 if ctx.device.startswith('cuda') else 30
    if ctx.remaining() < needed:
        ctx.record(
            'compile', f'not run: {ctx.remaining():.0f} s left, '
            f'under the {needed} s it may take')
        return
    fast = list(recipes)[-1]
    compiled = {
        fast:
        recipes[fast],
        f'{fast} + torch.compile ({ctx.settings.compile_backend})':
        recipes[fast]._replace(compile=ctx.settings.compile_backend)
    }
    batch = random_batches(1, settings.batch, settings.shape, ctx.device, 0)[0]
    ctx.log(f'torch.compile ({ctx.remaining():.0f} s left)')
    ctx.record(
        'compile', 'started; still compiling or timing when the '
        'step\'s limit ran out')
    try:
        rows = time_recipes(curve_model, compiled, batch, ctx.device, 2,
                            settings.rounds, ctx.log)
    except Exception as error:  # what compile cannot do is a finding
        ctx.record('compile', f'failed: {type(error).__name__}: {error}')
        return
    ctx.record('compile', rows)


def _profile(ctx: StepContext, model: torch.nn.Module,
             recipes: Dict[str, TrainingRecipe]):
    """:func:`profile_recipes` of the first model's fp32 and AMP steps (why
    one is slower), or why not."""
    if ctx.remaining() < PROFILE_NEEDS_S:
        return f'not run: {ctx.remaining():.0f} s left'
    ctx.log(f'profiling {" and ".join(recipes)} training steps')
    batch = random_batches(1, ctx.settings.batch, ctx.settings.shape,
                           ctx.device, 0)[0]
    try:
        rows = profile_recipes(model, recipes, batch, ctx.device)
    except Exception as error:  # a profiler that fails is a finding
        return f'failed: {type(error).__name__}: {error}'
    finally:
        _free(ctx.device)
    return dict(model=next(iter(ctx.settings.models)), recipes=rows)


def inference(ctx: StepContext) -> None:
    from ..benchmark.inference import benchmark_inference
    from ..benchmark.options import BenchmarkOptions
    settings = ctx.settings
    name = next(iter(settings.models))
    model = ctx.build(settings.models[name])
    precisions = ['fp16', 'bf16'] if ctx.device.startswith('cuda') else \
        ['bf16']
    rows = {}
    for batch in settings.inference_batches:
        options = BenchmarkOptions(
            shape=settings.shape,
            batch_size=batch,
            device=ctx.device,
            precision=precisions,
            warmup=2,
            rounds=settings.rounds,
            log=ctx.log)
        rows[str(batch)] = benchmark_inference(model, options)
        ctx.record('pytorch', dict(model=name, batches=rows))
    ctx.record('onnxruntime', onnx_runtime(ctx, model))


def onnx_runtime(ctx: StepContext, model: torch.nn.Module) -> dict:
    """The model exported to ONNX and run by the ONNX Runtime backend on
    the device (img/s and max |logit difference| from eager fp32 per batch,
    both at the input size, host arrays in and out), or why not."""
    try:
        import onnxruntime
    except ImportError:
        return dict(not_run='onnxruntime is not installed')
    providers = onnxruntime.get_available_providers()
    if ctx.device.startswith('cuda') and \
            'CUDAExecutionProvider' not in providers:
        return dict(
            not_run=f'onnxruntime {onnxruntime.__version__} has no CUDA '
            f'provider ({", ".join(providers)}); onnxruntime-gpu is not in '
            'the bundle')
    if ctx.remaining() < 30:
        return dict(not_run=f'{ctx.remaining():.0f} s left')
    from ..apis.backends import build_backend
    from ..apis.onnx_export import LogitsAtInputSize, export_checked
    settings = ctx.settings
    onnx_file = osp.join(settings.work_dir, 'inference', 'model.onnx')
    os.makedirs(osp.dirname(onnx_file), exist_ok=True)
    export_checked(model, onnx_file, settings.shape)
    engine = build_backend(
        'onnxruntime',
        ctx.config(next(iter(settings.models.values()))),
        device=ctx.device,
        model_file=onnx_file)
    result = dict(
        onnxruntime=onnxruntime.__version__,
        providers=engine.session.get_providers(),
        batches={})
    # What the export holds: logits at the input size.
    network = LogitsAtInputSize(model).eval()
    for batch in settings.inference_batches:
        inputs = torch.randn(batch, 3, *settings.shape, device=ctx.device)
        with torch.no_grad():
            reference = network(inputs)[0].float().cpu()
            calls = {
                'eager fp32': lambda: network(inputs),
                'ONNX Runtime': lambda: engine.logits(inputs, [])
            }
            rows = summarize(
                interleaved_times(calls, ctx.device, 2, settings.rounds),
                batch)
            logits = calls['ONNX Runtime']().float().cpu()
        result['batches'][str(batch)] = dict(
            rows, max_abs_diff=(logits - reference).abs().max().item())
        ctx.record('onnxruntime', result)
    return result
