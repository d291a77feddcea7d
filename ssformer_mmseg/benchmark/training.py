"""Training speed: plain fp32 steps against the fast recipe
(channels_last + AMP + fused AdamW) and each ingredient alone."""
import copy
from types import SimpleNamespace

import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ..cpu_features import bf16_emulated
from ..engine import AutocastOptimWrapper, ChannelsLastHook
from .measure import interleaved_times, summarize
from .options import BenchmarkOptions


def training_samples(batch: int, shape, device: str) -> list:
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 2, (1, *shape), device=device))
        sample.set_metainfo(
            dict(img_shape=tuple(shape), pad_shape=tuple(shape)))
        samples.append(sample)
    return samples


def training_recipe(model, device: str, channels_last: bool, amp: bool,
                    fused: bool):
    """A copy of ``model`` and its optimizer wrapper for one recipe."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, fused=True if fused else None)
    if not amp:
        wrapper = OptimWrapper(optimizer=optimizer)
    elif device.startswith('cuda'):
        from mmengine.optim import AmpOptimWrapper
        wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale='dynamic')
    else:
        wrapper = AutocastOptimWrapper(optimizer=optimizer)
    if channels_last:
        ChannelsLastHook().before_train(SimpleNamespace(model=model))
    return model, wrapper


def train_step(model, wrapper, inputs, samples) -> float:
    with wrapper.optim_context(model):
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
    wrapper.update_params(loss)
    return loss.item()


def benchmark_training(model: torch.nn.Module,
                       options: BenchmarkOptions) -> dict:
    """Training steps of the plain fp32 model against the fast recipe and
    each ingredient alone, plus the losses of a short run of plain and fast
    from the same weights on the same batches."""
    device = options.device
    batch = options.train_batch_size or max(2, options.batch_size)
    amp = 'AMP fp16' if device.startswith('cuda') else 'AMP bf16'
    # Without native bf16 the CPU emulates it (many times slower than fp32):
    # AMP is still measured, but the fast recipe is fp32 there.
    fast_amp = not bf16_emulated(torch.device(device).type)
    fast = f'fast (channels_last + {amp} + fused AdamW)' if fast_amp else \
        'fast (channels_last + fused AdamW; no AMP: bf16 emulated)'
    recipes = {
        'eager fp32': (False, False, False),
        'channels_last': (True, False, False),
        amp: (False, True, False),
        'fused AdamW': (False, False, True),
        fast: (True, fast_amp, True),
    }
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(
        batch, 3, *options.shape, generator=generator).to(device)
    samples = training_samples(batch, options.shape, device)
    built = {
        name: training_recipe(model, device, *options)
        for name, options in recipes.items()
    }
    calls = {
        name:
        (lambda m, w: lambda: train_step(m, w, inputs, samples))(*built[name])
        for name in recipes
    }
    rows = summarize(
        interleaved_times(calls, device, 1, max(3, options.rounds // 2),
                          options.log), batch)
    results = [
        dict(name=name, batch_size=batch, **rows[name]) for name in recipes
    ]

    # The same short run, plain and fast, from the same weights.
    curves = {}
    for name in ('eager fp32', list(recipes)[-1]):
        net, wrapper = training_recipe(model, device, *recipes[name])
        generator = torch.Generator().manual_seed(1)
        losses = []
        for _ in range(options.loss_steps):
            batch_inputs = torch.randn(
                batch, 3, *options.shape, generator=generator).to(device)
            losses.append(train_step(net, wrapper, batch_inputs, samples))
        curves[name] = losses
    return dict(steps=results, loss_curves=curves)
