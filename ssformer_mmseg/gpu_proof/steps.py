"""The GPU proof's steps. Each records its figures as it goes
(:meth:`StepContext.record`), so a step stopped at its time limit keeps
what it measured; :mod:`.proof` runs each in a process of its own.

1. ``smoke``: versions, the device, SSFormer-S built on it, one training
   step.
2. ``training``: training img/s and peak memory of SSFormer-S and -L per
   recipe (fp32, fp16 AMP with loss scaling, bf16 AMP, channels_last, the
   fast recipe, and under ``torch.compile`` when time allows); the losses
   of fp32 and AMP over the same steps from the same weights.
3. ``distributed``: ``tools/dist_train.sh`` with one process (NCCL on
   CUDA) and ``sync_bn=torch``, then ``tools/test.py`` on its checkpoint.
4. ``inference``: eager fp32 against ``optimize_for_inference`` (fp16,
   bf16) at each batch, with max |logit difference|; ONNX Runtime on the
   device where its provider is there.
5. ``scratch``: SSFormer-S from scratch with AMP on the carried training
   pairs for the time left, tested on the carried test pairs.
"""
import itertools
import json
import math
import os
import os.path as osp
import re
import socket
import time
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config

from ..benchmark.measure import interleaved_times, summarize, synchronize
from ..benchmark.training import (Batch, TrainingRecipe, loss_curves,
                                  random_batches, time_recipes, train_step,
                                  training_recipe)
from ..config import load_config
from ..packaged import find_config
from .settings import ProofSettings


class StepSkipped(Exception):
    """A step that cannot run here; its message says why."""


class StepContext:
    """What a step works with: the settings, its deadline, its record.

    Args:
        settings (ProofSettings): The run's settings.
        name (str): The step.
        deadline (float): ``time.time()`` by which it must be done.
    """

    def __init__(self, settings: ProofSettings, name: str, deadline: float):
        self.settings = settings
        self.name = name
        self.deadline = deadline
        self.figures: Dict[str, object] = {}
        os.makedirs(osp.dirname(settings.step_record(name)), exist_ok=True)

    @property
    def device(self) -> str:
        return self.settings.device

    def record(self, key: str, value) -> None:
        """Keep ``value`` under ``key`` and write the record now."""
        self.figures[key] = value
        path = self.settings.step_record(self.name)
        with open(path + '.part', 'w') as f:
            json.dump(self.figures, f, indent=1, default=str)
        os.replace(path + '.part', path)

    def log(self, message: str) -> None:
        print(f'[{self.name}] {message}', flush=True)

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.time()

    def earlier(self, step: str) -> dict:
        """What an earlier step recorded (empty if it did not run)."""
        return self.settings.read_record(step)

    def config(self, name: str) -> Config:
        """A packaged config with the run's model options and data root."""
        options = dict(self.settings.model_options)
        if self.settings.data_root:
            options['data_root'] = self.settings.data_root
        return load_config(find_config(name), options)

    def build(self, name: str) -> torch.nn.Module:
        """The model of config ``name`` on the device, random weights."""
        from ..apis.loading import load_segmentor
        return load_segmentor(self.config(name), None, self.device)


def _amp_dtypes(device: str) -> List[str]:
    """fp16 (loss-scaled, CUDA only) and bf16."""
    return ['float16', 'bfloat16'] if device.startswith('cuda') else \
        ['bfloat16']


def _free(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.empty_cache()


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
                nccl='.'.join(map(str, torch.cuda.nccl.version()))))
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
    for dtype in _amp_dtypes(device):
        recipes[f'AMP {_short(dtype)}'] = TrainingRecipe(amp=dtype)
    recipes['channels_last'] = TrainingRecipe(channels_last=True)
    amp = _amp_dtypes(device)[0]
    recipes[f'channels_last + AMP {_short(amp)} + fused AdamW'] = \
        TrainingRecipe(True, amp, True)
    return recipes


def _short(dtype: str) -> str:
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
    amp = f'AMP {_short(_amp_dtypes(ctx.device)[0])}'
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _short_run_options(ctx: StepContext, iters: int) -> List[str]:
    """A run of ``iters`` iterations at the proof's batch that saves its
    last and never validates (``tools/test.py`` tests it), with loader
    workers for the machine's cores."""
    workers = min(12, os.cpu_count() or 1) \
        if ctx.device.startswith('cuda') else 2
    return [
        f'train_dataloader.batch_size={ctx.settings.batch}',
        f'train_dataloader.num_workers={workers}',
        f'train_cfg.max_iters={iters}', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None', f'default_hooks.checkpoint.interval={iters}',
        f'default_hooks.logger.interval={max(1, min(10, iters))}'
    ]


def _test_run(ctx: StepContext, config: str, checkpoint: str, work_dir: str,
              timeout: float) -> dict:
    """``tools/test.py`` on ``checkpoint``: each set's meanDic with its
    interval."""
    from ..engine.tool_runs import run_tool
    from ..evaluation.reports import ScoreReport
    out = osp.join(work_dir, 'maps')
    run_tool(
        'test.py', [
            config, checkpoint, '--work-dir', work_dir, '--out', out,
            '--cfg-options', *ctx.settings.cli_options()
        ],
        osp.join(work_dir, 'test.log'),
        ctx.log,
        timeout=timeout)
    report = ScoreReport.read(out)
    return report.as_dict()


def _need_data(ctx: StepContext) -> None:
    if not ctx.settings.data_root:
        raise StepSkipped('no data: run with --bundle holding a data slice')


def distributed(ctx: StepContext) -> None:
    from ..engine.seed_spread import last_checkpoint
    from ..engine.tool_runs import run_tool
    _need_data(ctx)
    settings = ctx.settings
    work = osp.join(settings.work_dir, 'distributed')
    config = find_config(settings.train_config)
    os.environ['PORT'] = str(_free_port())
    # NCCL names its version when a communicator starts: proof it ran.
    os.environ.setdefault('NCCL_DEBUG', 'VERSION')
    log_file = osp.join(work, 'train.log')
    sync_bn = []
    if ctx.device.startswith('cuda'):
        sync_bn = ['sync_bn=torch']
    else:
        ctx.record('sync_bn', 'not set: DDP refuses SyncBatchNorm on '
                   'CPU modules')
    start = time.time()
    run_tool(
        'dist_train.sh', [
            config, '1', '--work-dir', work, '--cfg-options',
            *settings.cli_options(), *sync_bn,
            *_short_run_options(ctx, settings.dist_iters)
        ],
        log_file,
        ctx.log,
        timeout=ctx.remaining() * 0.7)
    with open(log_file) as f:
        text = f.read()
    ctx.record(
        'train',
        dict(
            iterations=settings.dist_iters,
            seconds=round(time.time() - start, 1),
            distributed='Distributed training: True' in text,
            backend=_backend_seen(text),
            sync_bn="sync_bn = 'torch'" in text))
    checkpoint = last_checkpoint(work)
    if checkpoint is None:
        raise RuntimeError(f'{work} records no checkpoint after training')
    ctx.record(
        'test',
        _test_run(ctx, config, checkpoint, osp.join(work, 'test'),
                  ctx.remaining() - 2))


def _backend_seen(log_text: str) -> str:
    """The process group's backend, as the training log shows it."""
    from ..compat import CPU_GLOO_NOTICE
    nccl = re.search(r'NCCL version (\S+)', log_text)
    if nccl:
        return f'nccl {nccl.group(1)}'
    if CPU_GLOO_NOTICE in log_text:
        return 'gloo'
    return 'not shown in the log'


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
    """The model exported to ONNX and run by ONNX Runtime on the device
    (img/s and max |logit difference| from eager fp32 per batch), or why
    not."""
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
    from ..apis.onnx_export import LogitsAtInputSize, export_checked
    from ..apis.onnx_file import ONNX_INPUT, ONNX_LOGITS, onnx_session
    settings = ctx.settings
    onnx_file = osp.join(settings.work_dir, 'inference', 'model.onnx')
    os.makedirs(osp.dirname(onnx_file), exist_ok=True)
    export_checked(model, onnx_file, settings.shape)
    session = onnx_session(onnx_file, ctx.device)
    result = dict(
        onnxruntime=onnxruntime.__version__,
        providers=session.get_providers(),
        batches={})
    # The exported graph: logits at the input size.
    network = LogitsAtInputSize(model).eval()
    for batch in settings.inference_batches:
        inputs = torch.randn(batch, 3, *settings.shape, device=ctx.device)
        feed = {ONNX_INPUT: inputs.cpu().numpy()}
        with torch.no_grad():
            reference = network(inputs)[0].float().cpu()
        calls = {
            'eager fp32': lambda: network(inputs),
            'onnxruntime': lambda: session.run([ONNX_LOGITS], feed)
        }
        with torch.no_grad():
            rows = summarize(
                interleaved_times(calls, ctx.device, 2, settings.rounds),
                batch)
        logits = torch.from_numpy(calls['onnxruntime']()[0])
        result['batches'][str(batch)] = dict(
            rows, max_abs_diff=(logits - reference).abs().max().item())
        ctx.record('onnxruntime', result)
    return result


def scratch(ctx: StepContext) -> None:
    from ..engine.seed_spread import last_checkpoint
    from ..engine.tool_runs import run_tool
    _need_data(ctx)
    settings = ctx.settings
    on_cuda = ctx.device.startswith('cuda')
    test_reserve, start_up = (60, 30) if on_cuda else (60, 20)
    train_seconds = ctx.remaining() - test_reserve - start_up
    if train_seconds < 10:
        raise StepSkipped(f'{ctx.remaining():.0f} s left, too little to '
                          'train and test')
    speed = _amp_speed(ctx)
    # The schedule's length from the measured speed (data loading and
    # logging cost some of it); the time limit stops the run if the
    # estimate is high.
    iters = settings.scratch_iters or (max(
        2, int(train_seconds * speed * 0.6 /
               settings.batch)) if speed else 1000)
    work = osp.join(settings.work_dir, 'scratch')
    config = find_config(settings.train_config)
    ctx.record(
        'plan',
        dict(
            seconds=round(train_seconds),
            iterations=iters,
            measured_img_per_s=speed))
    start = time.time()
    run_tool(
        'train.py', [
            config, '--work-dir', work, '--amp', '--time-limit',
            f'{train_seconds:.0f}', '--cfg-options', *settings.cli_options(),
            *_short_run_options(ctx, iters)
        ],
        osp.join(work, 'train.log'),
        ctx.log,
        timeout=train_seconds + start_up + 30)
    checkpoint = last_checkpoint(work)
    if checkpoint is None:
        raise RuntimeError(f'{work} records no checkpoint after training')
    done = int(osp.splitext(osp.basename(checkpoint))[0].split('_')[-1])
    ctx.record(
        'train',
        dict(
            iterations=done,
            planned=iters,
            seconds=round(time.time() - start, 1),
            images=done * settings.batch))
    ctx.record(
        'test',
        _test_run(ctx, config, checkpoint, osp.join(work, 'test'),
                  max(10.0,
                      ctx.remaining() - 2)))


def _amp_speed(ctx: StepContext) -> Optional[float]:
    """SSFormer-S's measured img/s in AMP (the training step's), if any."""
    rows = ctx.earlier('training').get('throughput', {})
    first = next(iter(ctx.settings.models))
    amp = f'AMP {_short(_amp_dtypes(ctx.device)[0])}'
    for row in rows.get(first, []):
        if row['name'] == amp:
            return row['img_per_s']
    return None


#: Step name -> function.
STEPS: Dict[str, Callable[[StepContext], None]] = dict(
    smoke=smoke,
    training=training,
    distributed=distributed,
    inference=inference,
    scratch=scratch)
