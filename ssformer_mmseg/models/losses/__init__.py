from .binary_dice_loss import BinaryDiceLoss

__all__ = ['BinaryDiceLoss']
