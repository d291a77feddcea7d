"""int8 post-training quantization with NNCF, as the engines that quantize
the ONNX export use it: the NNCF module (quiet), and the meanDic of a
model's outputs on ``(input, mask)`` pairs, NNCF's validation function and
the deploy step's held-out check.

NNCF does the work (statistics, quantizer placement for transformers, bias
correction, the accuracy-aware search); the engines hand it real frames and
this metric.
"""
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ...evaluation.polyp_scores import score_image, to_uint8_map
from ..onnx_file import ONNX_LOGITS
from ..optional import require


def nncf_module():
    """The ``nncf`` module, logging errors only."""
    nncf = require('nncf', 'int8 quantization')
    # NNCF logs every step at INFO; the deploy report says what matters.
    nncf.set_log_level(40)  # logging.ERROR
    return nncf


def quantize(model,
             inputs: Sequence[np.ndarray],
             transform: Optional[Callable] = None):
    """NNCF's post-training int8 quantization of ``model`` (an
    ``openvino.Model`` or ``onnx.ModelProto``) for a transformer, calibrated
    on every one of ``inputs`` ((1, 3, H, W) network inputs; ``transform``
    makes each the model's input where it takes a dict)."""
    nncf = nncf_module()
    return nncf.quantize(
        model,
        nncf.Dataset(list(inputs), transform),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs))


def mean_dice(probs: np.ndarray, mask: np.ndarray) -> float:
    """meanDic of one (H, W) probability map against a {0, 1} mask of the
    same size, as :class:`~ssformer_mmseg.evaluation.PolypMetric` scores."""
    return float(np.mean(score_image(to_uint8_map(probs), mask)['dice_curve']))


def validate(run: Callable, items: Iterable[tuple]) -> Tuple[float, List]:
    """meanDic over ``(input, mask)`` items of ``run``, which maps a
    (1, 3, H, W) input to ``{'logits': array}`` (an OpenVINO compiled
    model does); NNCF's validation function."""
    scores = []
    for inputs, mask in items:
        logits = np.asarray(run(inputs)[ONNX_LOGITS])
        scores.append(mean_dice(1 / (1 + np.exp(-logits[0, 0])), mask))
    return float(np.mean(scores)), scores
