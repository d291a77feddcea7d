"""Hooks that switch a Runner's model to the fast paths.

``FastInferenceHook`` is what ``tools/test.py --fast`` adds;
``ChannelsLastHook`` is what ``tools/train.py --channels-last`` adds. Both can
also be listed in a config's ``custom_hooks``.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
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
    (README, "Speed"). Numerics are unchanged up to float rounding.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
        model.backbone.register_forward_pre_hook(_to_channels_last)


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Test with :func:`~ssformer_mmseg.apis.optimize_for_inference`.

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
            precision=precision, channels_last=channels_last,
            compile=compile)
        self._restore = None

    def before_test(self, runner) -> None:
        from ..apis.optimize import optimize_for_inference
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
