"""SSFormer for MMSegmentation 1.x.

Importing this package applies the stack workarounds of
:mod:`ssformer_mmseg.compat` and registers the SSFormer modules in mmseg's
registries, so configs only need ``custom_imports =
dict(imports=['ssformer_mmseg'], allow_failed_imports=False)``.
"""
from . import compat, stack

stack.check()  # a missing or doubly installed mmseg / mmengine / mmcv
compat.apply()

# After compat.apply(): mmseg's models need its fixes (E402 is allowed for
# this file in setup.cfg).
from . import datasets  # noqa: F401  (registers datasets, transforms)
from . import engine  # noqa: F401  (registers hooks)
from .evaluation import PolypMetric
from .models import BinaryDiceLoss, NVMixVisionTransformer, PLDHead
from .version import __version__

__all__ = [
    'NVMixVisionTransformer', 'PLDHead', 'BinaryDiceLoss', 'PolypMetric',
    '__version__'
]
