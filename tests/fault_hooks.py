"""Hooks that inject faults into a training run (imported by test configs
through ``custom_imports``; never used outside tests)."""
import os
import signal

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILL the process after iteration ``iteration`` (after the
    checkpoint hook), as a crash or an out-of-memory kill would."""

    priority = 'LOWEST'

    def __init__(self, iteration: int):
        self.iteration = iteration

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class NaNWeightsBeforeIterHook(Hook):
    """Fill the classifier's weights with NaN before iteration
    ``iteration``, so every loss term of that iteration is NaN."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            model = getattr(runner.model, 'module', runner.model)
            with torch.no_grad():
                model.decode_head.conv_seg.weight.fill_(float('nan'))
