"""int8 post-training quantization with NNCF, for both engines, and NNCF's
accuracy-aware quantization (OpenVINO) when plain quantization costs more
than a bound.

NNCF does the work (statistics, quantizer placement for transformers, bias
correction, the accuracy-aware search); this module hands it real frames
(:mod:`.calibration`) and our metric.
"""
from typing import List, Optional, Sequence

import numpy as np

from ..apis.backends.openvino import read_model
from ..apis.onnx_file import ONNX_INPUT, ONNX_LOGITS
from ..apis.optional import require
from ..evaluation.polyp_scores import score_image, to_uint8_map


def _nncf():
    nncf = require('nncf', 'int8 quantization')
    # NNCF logs every step at INFO; the deploy report says what matters.
    nncf.set_log_level(40)  # logging.ERROR
    return nncf


def quantize_openvino(onnx_file: str, inputs: Sequence[np.ndarray]):
    """An int8 ``openvino.Model`` of an exported ONNX file.

    Args:
        onnx_file (str): The fp32 export.
        inputs (Sequence[np.ndarray]): Calibration inputs, (1, 3, H, W)
            each (:func:`~.calibration.network_inputs`).
    """
    nncf = _nncf()
    return nncf.quantize(
        read_model(onnx_file),
        nncf.Dataset(list(inputs)),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs))


def quantize_onnx(onnx_file: str, inputs: Sequence[np.ndarray]):
    """An int8 (QDQ) ``onnx.ModelProto`` of an exported ONNX file, for ONNX
    Runtime; same arguments as :func:`quantize_openvino`."""
    onnx = require('onnx')
    nncf = _nncf()
    return nncf.quantize(
        onnx.load(onnx_file),
        nncf.Dataset(list(inputs), lambda x: {ONNX_INPUT: x}),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs))


def mean_dice(probs: np.ndarray, mask: np.ndarray) -> float:
    """meanDic of one (H, W) probability map against a {0, 1} mask of the
    same size, as :class:`~ssformer_mmseg.evaluation.PolypMetric` scores."""
    return float(np.mean(score_image(to_uint8_map(probs), mask)['dice_curve']))


def _validate(compiled_model, items) -> tuple:
    """NNCF's validation function: meanDic over (input, mask) items."""
    scores = []
    for inputs, mask in items:
        logits = np.asarray(compiled_model(inputs)[ONNX_LOGITS])
        scores.append(mean_dice(1 / (1 + np.exp(-logits[0, 0])), mask))
    return float(np.mean(scores)), scores


def quantize_openvino_with_accuracy_control(
        onnx_file: str,
        inputs: Sequence[np.ndarray],
        validation: Sequence[tuple],
        max_drop: float,
        max_num_iterations: Optional[int] = None):
    """NNCF's accuracy-aware quantization: int8 except where reverting ops
    to float is needed to keep meanDic within ``max_drop`` (absolute) of
    the float model on ``validation``.

    Args:
        onnx_file (str): The fp32 export.
        inputs (Sequence[np.ndarray]): Calibration inputs.
        validation (Sequence[tuple]): ``(input, mask)`` pairs: (1, 3, H, W)
            network inputs and {0, 1} masks at the network size, from
            training frames that are not calibration frames.
        max_drop (float): Largest meanDic drop allowed.
        max_num_iterations (int, optional): Cap on NNCF's reverting steps.
    """
    nncf = _nncf()
    advanced = None
    if max_num_iterations is not None:
        advanced = nncf.AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_num_iterations)
    return nncf.quantize_with_accuracy_control(
        read_model(onnx_file),
        nncf.Dataset(list(inputs)),
        nncf.Dataset(list(validation)),
        _validate,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs),
        advanced_accuracy_restorer_parameters=advanced)


def validation_pairs(inputs: List[np.ndarray], masks, size) -> List[tuple]:
    """``(input, mask)`` pairs with each mask resized (nearest) to the
    network's (height, width) ``size``."""
    import cv2
    return [
        (x, cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST))
        for x, m in zip(inputs, masks)
    ]
