from .backbones import NVMixVisionTransformer
from .decode_heads import PLDHead
from .losses import BinaryDiceLoss, PixelDiceBCELoss
from .segmentors import PolypTTAModel

__all__ = [
    'NVMixVisionTransformer', 'PLDHead', 'BinaryDiceLoss', 'PixelDiceBCELoss',
    'PolypTTAModel'
]
