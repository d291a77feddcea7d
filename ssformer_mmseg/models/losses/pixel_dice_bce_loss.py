"""The loss of SSFormer's official training script, as an mmseg loss."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .targets import binary_targets


@MODELS.register_module()
class PixelDiceBCELoss(nn.Module):
    """BCE plus a per-pixel Dice term, averaged over all pixels.

    For every pixel, with ``z`` the input of the loss, ``q = sigmoid(z)``
    and ``t`` the (soft) target::

        BCEWithLogits(z, t) + 1 - (2 * q * t + 1) / (q + t + 1)

    and the loss is the mean over the batch's pixels. Unlike
    ``BinaryDiceLoss``, whose Dice is a ratio of sums over each image, the
    Dice term here is a per-pixel quantity: a pixel's term does not see how
    large the polyp is, so small polyps weigh no more than background.

    This is the loss of the official SSFormer training script, which in
    addition applies a sigmoid to the network's logits *before* this loss:
    ``z = sigmoid(logit)``, so the BCE and the Dice term see
    ``sigmoid(sigmoid(logit))``, a probability confined to (0.5, 0.73) whose
    BCE never reaches 0. ``sigmoid_output=True`` reproduces that; the
    default (False) takes ``z = logit``. Inference is unchanged either way
    (one sigmoid, threshold 0.5). Our own configs use BCE + ``BinaryDiceLoss``
    instead (see docs/training.md).

    Args:
        sigmoid_output (bool): Apply a sigmoid to the logits first, as the
            official script does. Default: False.
        smooth (float): Added to the Dice numerator and denominator.
            Default: 1.0 (the official value).
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Name of the loss item. Default:
            'loss_pixel_dice_bce'.
    """

    def __init__(self,
                 sigmoid_output: bool = False,
                 smooth: float = 1.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_pixel_dice_bce'):
        super().__init__()
        self.sigmoid_output = sigmoid_output
        self.smooth = smooth
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Logits of shape (N, 1, H, W).
            target (Tensor): Float soft targets in [0, 1], or labels in
                {0, 1} (integer pixels equal to ``ignore_index`` are left
                out), of shape (N, H, W).
            weight (Tensor, optional): Per-pixel weights of shape (N, H, W).
            ignore_index (int): Label of pixels to leave out. Default: 255.

        Returns:
            Tensor: The scalar loss.
        """
        if pred.dim() != 4 or pred.shape[1] != 1:
            raise ValueError('PixelDiceBCELoss expects logits of shape '
                             f'(N, 1, H, W), got {tuple(pred.shape)}')
        z = pred.squeeze(1)
        if self.sigmoid_output:
            z = z.sigmoid()
        target, valid = binary_targets(target, z, ignore_index, weight)
        q = z.sigmoid()
        bce = F.binary_cross_entropy_with_logits(z, target, reduction='none')
        dice = 1 - (2 * q * target + self.smooth) / (q + target + self.smooth)
        total = ((bce + dice) * valid).sum() / valid.sum().clamp(min=1)
        return self.loss_weight * total

    @property
    def loss_name(self) -> str:
        """Name of the loss item, as mmseg's losses expose it."""
        return self._loss_name
