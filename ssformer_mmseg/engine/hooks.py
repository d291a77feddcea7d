"""Runner hooks: the fast paths, exact resumption and non-finite losses.

``FastInferenceHook`` is what ``tools/test.py --fast`` adds;
``ChannelsLastHook`` is what ``tools/train.py --channels-last`` adds;
``RandomStateHook`` and ``NonFiniteLossHook`` are in our configs'
``custom_hooks`` (``configs/_base_/default_runtime.py``);
``TrainTimeLimitHook`` is what ``tools/train.py --time-limit`` adds.
"""
import math
import os.path as osp
import time
from typing import Optional

import torch
import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    inputs, *rest = args
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return (inputs, *rest)


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Train in the channels_last memory format.

    Before training, the segmentor's weights are converted and its backbone
    gets its input batch in channels_last, the layout oneDNN (CPU) and cuDNN
    tensor cores convolve fastest; with AMP (``tools/train.py --amp``) a
    training step of SSFormer-S took less than half the fp32 time on our CPU
    (docs/speed_and_deployment.md). Numerics are unchanged up to float
    rounding.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
        model.backbone.register_forward_pre_hook(_to_channels_last)


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Test with :func:`~ssformer_mmseg.optimize.optimize_for_inference`.

    Before the test loop (after the checkpoint is loaded) the Runner's model
    is replaced by an optimized copy; for test-time augmentation the wrapped
    segmentor is optimized. The original model is put back after the test.

    Args:
        precision (str, optional): ``'fp32'``, ``'bf16'`` or ``'fp16'``;
            default per device (fp16 on CUDA, fp32 on CPU).
        channels_last (bool): Default: True.
        compile (bool): ``torch.compile`` the model. Default: False.
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 precision: Optional[str] = None,
                 channels_last: bool = True,
                 compile: bool = False):
        self.options = dict(
            precision=precision, channels_last=channels_last, compile=compile)
        self._restore = None

    def before_test(self, runner) -> None:
        # Imported here: importing the package (which registers this hook)
        # should not load the whole inference stack.
        from ..optimize import optimize_for_inference
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if hasattr(model, 'extract_feat'):
            self._restore = (runner, 'model', runner.model)
            fast = runner.model = optimize_for_inference(model, **self.options)
        else:  # a TTA model: optimize the segmentor it wraps
            self._restore = (model, 'module', model.module)
            fast = model.module = optimize_for_inference(
                model.module, **self.options)
        runner.logger.info(f'fast inference: {fast.inference_options}')

    def after_test(self, runner) -> None:
        owner, name, original = self._restore
        setattr(owner, name, original)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make a resumed run continue with the model's saved random state.

    mmengine re-seeds a resumed run and replays the data loader up to the
    checkpoint's iteration, which reproduces the data pipeline's randomness
    (NumPy / Python generators), but not the state of the PyTorch generators
    the model draws from (dropout, stochastic depth). This hook stores the
    PyTorch (and CUDA) generator states in every checkpoint's ``meta`` and
    puts them back right before the first iteration after resuming, so that
    with deterministic kernels an interrupted and resumed run ends with the
    same weights as an uninterrupted one (tested on CPU). The NumPy / Python
    states are deliberately not restored: the replay already brought them to
    where the original run was when it fetched the next batch.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint.setdefault('meta', {})['random_states'] = states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get('meta', {}).get('random_states')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        states, self._pending = self._pending, None
        torch.set_rng_state(states['torch'])
        if 'cuda' in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss, saying where.

    Runs after each iteration, before the checkpoint hook, so a diverged
    model is never saved: the last checkpoint on disk is from before the
    divergence.

    Raises:
        FloatingPointError: Naming the iteration, every non-finite logged
            value (total and each loss term) and the last checkpoint.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        # detach(): the loss items still carry their graph here.
        values = {
            name: float(value.detach() if torch.is_tensor(value) else value)
            for name, value in (outputs or {}).items() if 'loss' in name
        }
        bad = {
            name: value
            for name, value in values.items() if not math.isfinite(value)
        }
        if not bad:
            return
        terms = ', '.join(f'{name}={value}' for name, value in bad.items())
        last = runner.message_hub.get_info('last_ckpt')
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1}: {terms}. '
            'Training stopped; the last checkpoint saved before it is '
            f'{last or "none (none was saved yet)"}. Lower the learning '
            'rate, check the data, or use fp32 (no --amp).')


@HOOKS.register_module()
class TrainTimeLimitHook(Hook):
    """End training cleanly once it has run ``seconds`` (a shared cluster's
    time slot, a leased GPU), keeping what it learnt.

    With an iteration-based loop, after the first iteration that ends past
    the limit; with an epoch-based one, after the epoch in which it passes.
    The weights are saved as ``iter_<n>.pth`` (``epoch_<n>.pth``) in the
    work dir and recorded in its ``last_checkpoint``, as mmengine's
    ``CheckpointHook`` does (so ``tools/test.py`` and ``--resume`` find it;
    a resumed run continues exactly), and the loop stops; the log says
    where, of how many. The learning-rate schedule is not shortened: a run
    stopped early ends at a higher learning rate than its schedule's last.

    Args:
        seconds (float): Training time allowed, counted from the start of
            the first iteration (model building and data loading set-up
            excluded).
    """

    priority = 'LOW'

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f'seconds must be positive, got {seconds}')
        self.seconds = seconds
        self._start = None

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._stop_if_late(runner, 'iteration', runner.iter + 1,
                               runner.max_iters)

    def after_train_epoch(self, runner) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._stop_if_late(runner, 'epoch', runner.epoch + 1,
                               runner.max_epochs)

    def _stop_if_late(self, runner, unit: str, done: int, total: int) -> None:
        if time.perf_counter() - self._start < self.seconds or done >= total:
            return
        runner.train_loop.stop_training = True
        name = f'{"epoch" if unit == "epoch" else "iter"}_{done}.pth'
        runner.logger.warning(
            f'time limit of {self.seconds:g} s reached after {unit} {done} '
            f'of {total}: training stops, the weights are saved as {name}')
        runner.save_checkpoint(runner.work_dir, name, by_epoch=unit == 'epoch')
        if is_main_process():  # as CheckpointHook records its last save
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(runner.work_dir, name))
