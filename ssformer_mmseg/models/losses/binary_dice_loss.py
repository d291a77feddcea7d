"""Soft Dice loss on the foreground probability of a one-channel head."""
from typing import Optional

import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

from .targets import binary_targets


@MODELS.register_module()
class BinaryDiceLoss(nn.Module):
    """Soft Dice loss for binary segmentation with one output channel.

    For every image, ``1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) +
    smooth)`` where ``p = sigmoid(logit)`` is the foreground probability and
    ``t`` the {0, 1} label, or the soft target itself when the target is a
    floating-point tensor of values in [0, 1] (``PLDHead(soft_targets=True)``);
    integer pixels labelled ``ignore_index`` are left out.
    The per-image losses are averaged over the batch. SSFormer trains with
    this term next to BCE-with-logits.

    mmseg's ``DiceLoss`` cannot stand in for it: given one channel it one-hot
    encodes the label and keeps channel 0, i.e. it compares the foreground
    probability with the *background* mask.

    Args:
        smooth (float): Added to numerator and denominator; keeps the loss
            defined (and 0) for an empty label predicted empty. Default: 1.0.
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Name of the loss item; the ``loss_`` prefix puts it
            into the backward graph. Default: 'loss_dice'.
    """

    def __init__(self,
                 smooth: float = 1.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice'):
        super().__init__()
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
            target (Tensor): Labels in {0, 1} (or ``ignore_index``), or
                float soft targets in [0, 1], of shape (N, H, W).
            weight (Tensor, optional): Per-pixel weights of shape (N, H, W).
            ignore_index (int): Label of pixels to leave out. Default: 255.

        Returns:
            Tensor: The scalar loss.
        """
        if pred.dim() != 4 or pred.shape[1] != 1:
            raise ValueError('BinaryDiceLoss expects logits of shape '
                             f'(N, 1, H, W), got {tuple(pred.shape)}')
        prob = pred.squeeze(1).sigmoid()
        label, valid = binary_targets(target, prob, ignore_index, weight)
        label = label * valid
        prob = prob * valid
        inter = (prob * label).flatten(1).sum(1)
        total = prob.flatten(1).sum(1) + label.flatten(1).sum(1)
        dice = (2 * inter + self.smooth) / (total + self.smooth)
        return self.loss_weight * (1 - dice).mean()

    @property
    def loss_name(self) -> str:
        """Name of the loss item, as mmseg's losses expose it."""
        return self._loss_name
