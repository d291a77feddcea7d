from .backbones import NVMixVisionTransformer
from .decode_heads import PLDHead
from .losses import BinaryDiceLoss

__all__ = ['NVMixVisionTransformer', 'PLDHead', 'BinaryDiceLoss']
