"""The PyTorch fast path for in-framework inference: one switch,
:func:`optimize_for_inference`, that swaps modules for faster equivalents
(:mod:`.mit_modules`, the folded PLD head) and picks kernels from
:mod:`ssformer_mmseg.ops`."""
from .fast_inference import (PRECISIONS, default_precision,
                             optimize_for_inference)

__all__ = ['optimize_for_inference', 'default_precision', 'PRECISIONS']
