"""int8 quantization for the deploy step: the held-out check's pairs.

The NNCF calls are the engines' own (each backend's
:meth:`~ssformer_mmseg.apis.backends.InferenceBackend.write_model`); their
functions are re-exported here, where they were defined.
"""
from typing import List

import numpy as np

from ..apis.backends.nncf_int8 import mean_dice
from ..apis.backends.onnx_runtime import quantize_onnx
from ..apis.backends.openvino import (quantize_openvino,
                                      quantize_openvino_with_accuracy_control)

__all__ = [
    'quantize_onnx', 'quantize_openvino',
    'quantize_openvino_with_accuracy_control', 'mean_dice', 'validation_pairs'
]


def validation_pairs(inputs: List[np.ndarray], masks, size) -> List[tuple]:
    """``(input, mask)`` pairs with each mask resized (nearest) to the
    network's (height, width) ``size``."""
    import cv2
    return [
        (x, cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST))
        for x, m in zip(inputs, masks)
    ]
