"""Mixed precision training on any device: :class:`AutocastOptimWrapper`."""
import logging
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

from ..cpu_features import EMULATED_BF16, bf16_emulated


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` refuses to start without a GPU. bf16 needs
    no loss scaling (it has fp32's exponent range), so plain autocast is all
    mixed precision takes on a CPU; ``tools/train.py --amp`` uses this
    wrapper there (and mmengine's ``AmpOptimWrapper``, fp16 with dynamic
    loss scaling, on CUDA). On a CPU without native bf16 (AVX-512 BF16 /
    AMX) PyTorch emulates bf16, several times slower than fp32: the first
    step says so in the log.

    Args:
        dtype (str | torch.dtype): Autocast dtype. Default: 'bfloat16'.
        **kwargs: Arguments of ``OptimWrapper``.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs):
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype,
                                                              str) else dtype
        if self.cast_dtype == torch.float16:
            raise ValueError('fp16 needs loss scaling: use mmengine\'s '
                             'AmpOptimWrapper (CUDA) for fp16')
        self._checked_device = False

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device.type
        if not self._checked_device:
            self._checked_device = True
            if self.cast_dtype == torch.bfloat16 and bf16_emulated(device):
                print_log(
                    f'{EMULATED_BF16}: train without --amp here',
                    logger='current',
                    level=logging.WARNING)
        with super().optim_context(model), torch.autocast(
                device, dtype=self.cast_dtype):
            yield
