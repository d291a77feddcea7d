from .decode_heads import PLDHead
from .losses import BinaryDiceLoss

__all__ = ['PLDHead', 'BinaryDiceLoss']
