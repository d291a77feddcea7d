"""SSFormer for MMSegmentation 1.x.

Importing this package applies the stack workarounds of
:mod:`ssformer_mmseg.compat` and registers the SSFormer modules in mmseg's
registries, so configs only need ``custom_imports =
dict(imports=['ssformer_mmseg'], allow_failed_imports=False)``.
"""
from . import compat

compat.apply()

from . import datasets  # noqa: E402,F401  (registers datasets, transforms)
from . import engine  # noqa: E402,F401  (registers hooks)
from .evaluation import PolypMetric  # noqa: E402
from .models import NVMixVisionTransformer  # noqa: E402,E501
from .models import BinaryDiceLoss, PLDHead

__version__ = '0.1.0'
__all__ = [
    'NVMixVisionTransformer', 'PLDHead', 'BinaryDiceLoss', 'PolypMetric',
    '__version__'
]
