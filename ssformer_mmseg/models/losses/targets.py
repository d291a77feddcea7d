"""The one reading of a one-channel loss's target: labels or soft masks."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def binary_targets(target: Tensor,
                   like: Tensor,
                   ignore_index: int = 255,
                   weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Foreground target and pixel weights of a binary loss.

    An integer ``target`` holds labels: the foreground is label 1 and
    pixels labelled ``ignore_index`` get weight 0. A floating-point
    ``target`` is a soft mask (``PLDHead(soft_targets=True)``): it is the
    foreground target itself, and every pixel counts.

    Args:
        target (Tensor): (N, H, W) labels or soft mask.
        like (Tensor): Tensor whose dtype and device the results take.
        ignore_index (int): Label of pixels to leave out. Default: 255.
        weight (Tensor, optional): (N, H, W) per-pixel weights, multiplied
            into the returned weights.

    Returns:
        tuple[Tensor, Tensor]: The (N, H, W) target in [0, 1] and weights.
    """
    if target.is_floating_point():
        foreground = target.to(like)
        valid = torch.ones_like(foreground)
    else:
        foreground = (target == 1).to(like)
        valid = (target != ignore_index).to(like)
    if weight is not None:
        valid = valid * weight
    return foreground, valid
