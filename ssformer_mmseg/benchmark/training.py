"""Training speed: plain fp32 steps against the fast recipe
(channels_last + AMP + fused AdamW) and each ingredient alone, or any other
set of :class:`TrainingRecipe`; the losses of the same short run under two
recipes."""
import copy
from types import SimpleNamespace
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ..cpu_features import bf16_emulated
from ..engine import AutocastOptimWrapper, ChannelsLastHook
from ..messages import quiet
from .measure import interleaved_times, peak_memory_mb, summarize, synchronize
from .options import BenchmarkOptions

#: One training batch: the normalised inputs and their data samples.
Batch = Tuple[torch.Tensor, list]


class TrainingRecipe(NamedTuple):
    """How a training step runs.

    Attributes:
        channels_last (bool): Model and inputs in channels_last.
        amp (str, optional): Autocast dtype, ``'float16'`` (mmengine's
            ``AmpOptimWrapper`` with dynamic loss scaling; CUDA only) or
            ``'bfloat16'`` (``AmpOptimWrapper`` on CUDA,
            :class:`~ssformer_mmseg.engine.AutocastOptimWrapper` on the CPU);
            None: fp32.
        fused (bool): Fused AdamW.
        compile (str, optional): ``torch.compile`` the model with this
            backend (``'inductor'``, its default; ``'eager'`` captures the
            graphs without generating code); the first steps compile.
    """
    channels_last: bool = False
    amp: Optional[str] = None
    fused: bool = False
    compile: Optional[str] = None


def training_samples(batch: int, shape, device: str) -> list:
    """Data samples of ``batch`` random binary masks of ``shape``."""
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 2, (1, *shape), device=device))
        sample.set_metainfo(
            dict(img_shape=tuple(shape), pad_shape=tuple(shape)))
        samples.append(sample)
    return samples


def random_batches(count: int, batch: int, shape, device: str,
                   seed: int) -> List[Batch]:
    """``count`` batches of seeded random inputs (one set of random
    masks)."""
    generator = torch.Generator().manual_seed(seed)
    samples = training_samples(batch, shape, device)
    return [(torch.randn(batch, 3, *shape,
                         generator=generator).to(device), samples)
            for _ in range(count)]


def training_recipe(model: torch.nn.Module, device: str,
                    recipe: TrainingRecipe):
    """A copy of ``model`` and its optimizer wrapper for one recipe.

    Raises:
        ValueError: fp16 AMP off CUDA (it needs mmengine's
            ``AmpOptimWrapper``, which needs a GPU).
    """
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, fused=True if recipe.fused else None)
    on_cuda = device.startswith('cuda')
    if recipe.amp is None:
        wrapper = OptimWrapper(optimizer=optimizer)
    elif on_cuda:
        from mmengine.optim import AmpOptimWrapper
        wrapper = AmpOptimWrapper(
            optimizer=optimizer, loss_scale='dynamic', dtype=recipe.amp)
    elif recipe.amp == 'float16':
        raise ValueError('fp16 AMP needs CUDA (mmengine\'s AmpOptimWrapper '
                         'with loss scaling); on the CPU use bfloat16')
    else:
        wrapper = AutocastOptimWrapper(optimizer=optimizer, dtype=recipe.amp)
    if recipe.channels_last:
        ChannelsLastHook().before_train(SimpleNamespace(model=model))
    if recipe.compile:
        model = torch.compile(model, backend=recipe.compile)
    return model, wrapper


def train_step(model, wrapper, inputs, samples) -> float:
    """One forward, loss, backward and optimizer step; the loss."""
    with wrapper.optim_context(model):
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
    wrapper.update_params(loss)
    return loss.item()


def time_recipes(model: torch.nn.Module,
                 recipes: Dict[str, TrainingRecipe],
                 batch: Batch,
                 device: str,
                 warmup: int = 1,
                 rounds: int = 3,
                 log: Callable[[str], None] = quiet) -> List[dict]:
    """Training steps of each recipe on one batch, in interleaved rounds
    (the first recipe is the baseline of the speed-ups): img/s, p50 / p90
    ms, speed-up and the peak memory of one step, one dict per recipe."""
    inputs, samples = batch
    built = {
        name: training_recipe(model, device, recipe)
        for name, recipe in recipes.items()
    }
    calls = {
        name:
        (lambda m, w: lambda: train_step(m, w, inputs, samples))(*built[name])
        for name in recipes
    }
    rows = summarize(
        interleaved_times(calls, device, warmup, rounds, log), len(inputs))
    return [
        dict(
            name=name,
            batch_size=len(inputs),
            **recipe._asdict(),
            **rows[name],
            peak_mb=peak_memory_mb(calls[name], device))
        for name, recipe in recipes.items()
    ]


def profile_recipes(model: torch.nn.Module,
                    recipes: Dict[str, TrainingRecipe],
                    batch: Batch,
                    device: str,
                    steps: int = 3,
                    top: int = 5) -> Dict[str, dict]:
    """Where each recipe's training step spends its time:
    ``torch.profiler`` over ``steps`` steps after one unprofiled step.

    On a GPU, a step whose kernels keep the device busy for much less than
    the step lasts (:func:`time_recipes`'s p50, measured without the
    profiler) waits on the host launching them; more kernels per step for
    the same work (AMP's casts, the loss scaler's checks) then cost time,
    not arithmetic.

    Returns:
        dict: Recipe -> ``device_busy_ms`` (the device's kernel and copy
        time per step; None on the CPU), ``kernels`` (launched per step;
        None on the CPU), ``ops`` (PyTorch operators dispatched per step)
        and ``top``: the ``top`` operators with the most self time per
        step, on the device (the CPU's own time on a CPU), as
        ``{'name', 'ms'}``.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    inputs, samples = batch
    on_device = not device.startswith('cpu')
    activities = [ProfilerActivity.CPU]
    if on_device:
        activities.append(ProfilerActivity.CUDA)
    results = {}
    for name, recipe in recipes.items():
        net, wrapper = training_recipe(model, device, recipe)
        train_step(net, wrapper, inputs, samples)  # autotuning, allocator
        synchronize(device)
        with profile(activities=activities) as profiler:
            for _ in range(steps):
                train_step(net, wrapper, inputs, samples)
            synchronize(device)
        events = profiler.events()
        kernels = [e for e in events if e.device_type != DeviceType.CPU]
        ops = [
            e for e in events
            if e.device_type == DeviceType.CPU and e.name.startswith('aten::')
        ]
        own_time = (lambda e: e.self_device_time_total) if on_device else \
            (lambda e: e.self_cpu_time_total)
        averages = sorted((e for e in profiler.key_averages()
                           if e.device_type == DeviceType.CPU),
                          key=own_time,
                          reverse=True)
        results[name] = dict(
            device_busy_ms=sum(k.time_range.elapsed_us() for k in kernels) /
            1e3 / steps if on_device else None,
            kernels=len(kernels) / steps if on_device else None,
            ops=len(ops) / steps,
            top=[
                dict(name=e.key, ms=own_time(e) / 1e3 / steps)
                for e in averages[:top]
            ])
        del net, wrapper
    return results


def loss_curves(model: torch.nn.Module, recipes: Dict[str, TrainingRecipe],
                batches: Sequence[Batch], device: str) -> Dict[str, list]:
    """The losses of one short run per recipe, each from ``model``'s
    weights over the same ``batches``."""
    curves = {}
    for name, recipe in recipes.items():
        net, wrapper = training_recipe(model, device, recipe)
        curves[name] = [
            train_step(net, wrapper, inputs, samples)
            for inputs, samples in batches
        ]
    return curves


def benchmark_training(model: torch.nn.Module,
                       options: BenchmarkOptions) -> dict:
    """Training steps of the plain fp32 model against the fast recipe and
    each ingredient alone, plus the losses of a short run of plain and fast
    from the same weights on the same batches."""
    device = options.device
    batch = options.train_batch_size or max(2, options.batch_size)
    on_cuda = device.startswith('cuda')
    amp_dtype = 'float16' if on_cuda else 'bfloat16'
    amp = 'AMP fp16' if on_cuda else 'AMP bf16'
    # Without native bf16 the CPU emulates it (many times slower than fp32):
    # AMP is still measured, but the fast recipe is fp32 there.
    fast_amp = not bf16_emulated(torch.device(device).type)
    fast = f'fast (channels_last + {amp} + fused AdamW)' if fast_amp else \
        'fast (channels_last + fused AdamW; no AMP: bf16 emulated)'
    recipes = {
        'eager fp32': TrainingRecipe(),
        'channels_last': TrainingRecipe(channels_last=True),
        amp: TrainingRecipe(amp=amp_dtype),
        'fused AdamW': TrainingRecipe(fused=True),
        fast: TrainingRecipe(True, amp_dtype if fast_amp else None, True),
    }
    timing_batch, = random_batches(1, batch, options.shape, device, seed=0)
    results = time_recipes(model, recipes, timing_batch, device, 1,
                           max(3, options.rounds // 2), options.log)
    curves = loss_curves(
        model, {name: recipes[name]
                for name in ('eager fp32', fast)},
        random_batches(options.loss_steps, batch, options.shape, device, 1),
        device)
    return dict(steps=results, loss_curves=curves)
