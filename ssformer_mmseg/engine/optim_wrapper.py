"""Mixed precision training on any device: :class:`AutocastOptimWrapper`."""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` refuses to start without a GPU. bf16 needs
    no loss scaling (it has fp32's exponent range), so plain autocast is all
    mixed precision takes on a CPU; ``tools/train.py --amp`` uses this
    wrapper there (and mmengine's ``AmpOptimWrapper``, fp16 with dynamic
    loss scaling, on CUDA).

    Args:
        dtype (str | torch.dtype): Autocast dtype. Default: 'bfloat16'.
        **kwargs: Arguments of ``OptimWrapper``.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs):
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype,
                                                              str) else dtype
        if self.cast_dtype == torch.float16:
            raise ValueError('fp16 needs loss scaling: use mmengine\'s '
                             'AmpOptimWrapper (CUDA) for fp16')

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(
                device, dtype=self.cast_dtype):
            yield
