"""From the network's logits to what users get: probabilities at each
frame's own size, and masks.

Both follow mmseg (``BaseSegmentor.postprocess_result`` and its threshold
rule), so every backend post-processes identically.
"""
from typing import List

import numpy as np
import torch
from mmseg.models.utils import resize


def logits_to_probs(logits: torch.Tensor, data_samples: list,
                    align_corners: bool) -> List[np.ndarray]:
    """One-channel logits at network size -> probabilities at frame size.

    Mirrors mmseg's ``BaseSegmentor.postprocess_result`` for a one-channel
    head (so both backends post-process identically): crop the padding the
    data preprocessor added, resize the *logits* bilinearly to
    ``ori_shape`` with the head's ``align_corners``, then sigmoid.

    Args:
        logits (Tensor): (N, 1, H, W) logits at the network input size.
        data_samples (list[SegDataSample]): Their samples (metainfo).
        align_corners (bool): The head's ``align_corners``.

    Returns:
        list[np.ndarray]: (H_i, W_i) float32 maps in [0, 1].
    """
    height, width = logits.shape[2:]
    probs = []
    for i, sample in enumerate(data_samples):
        meta = sample.metainfo
        left, right, top, bottom = meta.get('img_padding_size',
                                            meta.get('padding_size', [0] * 4))
        if meta.get('flip'):
            raise ValueError('flipped views (test-time augmentation) are not '
                             'supported for inference')
        logit = logits[i:i + 1, :, top:height - bottom, left:width - right]
        logit = resize(
            logit,
            size=tuple(meta['ori_shape'][:2]),
            mode='bilinear',
            align_corners=align_corners,
            warning=False)
        probs.append(logit[0, 0].sigmoid().float().cpu().numpy())
    return probs


def foreground_mask(prob: np.ndarray, threshold: float) -> np.ndarray:
    """{0, 255} uint8 mask of a probability map: ``prob > threshold``,
    mmseg's rule for one-channel heads.

    Args:
        prob (np.ndarray): Probabilities in [0, 1] (any float dtype).
        threshold (float): Foreground threshold.
    """
    return np.where(prob > threshold, 255, 0).astype(np.uint8)
