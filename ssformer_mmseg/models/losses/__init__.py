from .binary_dice_loss import BinaryDiceLoss
from .pixel_dice_bce_loss import PixelDiceBCELoss

__all__ = ['BinaryDiceLoss', 'PixelDiceBCELoss']
