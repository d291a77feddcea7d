"""ONNX Runtime as an inference backend, on an exported ONNX file
(``tools/export_onnx.py``), fp32 or int8 (NNCF's QDQ quantization)."""
import os.path as osp
import shutil
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..onnx_file import (ONNX_INPUT, ONNX_LOGITS, input_size, is_quantized,
                         onnx_session)
from ..optional import ONNX_HINT, require
from .base import (Calibration, InferenceBackend, ModelFacts, WrittenModel,
                   check_input_size, register_backend)
from .nncf_int8 import quantize


def quantize_onnx(onnx_file: str, inputs: Sequence[np.ndarray]):
    """An int8 (QDQ) ``onnx.ModelProto`` of an exported ONNX file, for ONNX
    Runtime.

    Args:
        onnx_file (str): The fp32 export.
        inputs (Sequence[np.ndarray]): Calibration inputs, (1, 3, H, W)
            each.
    """
    return quantize(
        require('onnx').load(onnx_file), inputs, lambda x: {ONNX_INPUT: x})


@register_backend('onnxruntime')
class OnnxRuntimeBackend(InferenceBackend):
    """An exported model in an ONNX Runtime session (CPU, or CUDA with
    ``onnxruntime-gpu``), fp32 or int8 (a file quantized by NNCF, QDQ).

    ONNX Runtime's CPU provider has no bf16 kernels for these ops; bf16 is
    the OpenVINO backend's.

    Args:
        session (onnxruntime.InferenceSession): The session.
        data_preprocessor (nn.Module): The config's data preprocessor.
        device (str): ``'cpu'`` or ``'cuda[:N]'``.
        precision (str): ``'fp32'`` or ``'int8'`` (what the file holds).
    """

    PRECISIONS = ('fp32', 'int8')
    MODEL_FILES = ('model.onnx', )
    REQUIRES = ('onnxruntime', )
    INSTALL_HINT = ONNX_HINT
    QUANTIZATION_REQUIRES = ('onnx', 'nncf')

    def __init__(self,
                 session,
                 data_preprocessor: torch.nn.Module,
                 device: str = 'cpu',
                 precision: str = 'fp32'):
        self.session = session
        self.data_preprocessor = data_preprocessor
        self.device = device
        self.precision = precision
        self.input_hw = [
            d if isinstance(d, int) else None
            for d in session.get_inputs()[0].shape[2:]
        ]

    @classmethod
    def inspect_model_file(cls, model_file: str) -> ModelFacts:
        return ModelFacts(is_quantized(model_file), input_size(model_file))

    @classmethod
    def write_model(cls,
                    onnx_file: str,
                    out_dir: str,
                    precision: str,
                    calibration: Optional[Calibration] = None) -> WrittenModel:
        """fp32: the export itself. int8: NNCF's post-training quantization
        (QDQ); its held-out check is reported, and a drop beyond the bound
        is logged, not repaired (accuracy-aware quantization is
        OpenVINO's)."""
        target = osp.join(out_dir, cls.MODEL_FILES[0])
        if precision != 'int8':
            shutil.copyfile(onnx_file, target)
            return WrittenModel(list(cls.MODEL_FILES))
        calibration.log('quantizing with NNCF')
        require('onnx').save(
            quantize_onnx(onnx_file, calibration.inputs), target)
        quantization = dict(method='post-training (NNCF)')
        if calibration.check is not None and \
                calibration.accuracy_control != 'never':
            session = onnx_session(target)

            def run(inputs: np.ndarray) -> dict:
                return {
                    ONNX_LOGITS:
                    session.run([ONNX_LOGITS], {ONNX_INPUT: inputs})[0]
                }

            check = quantization['validation'] = calibration.check(run)
            if check['drop'] > calibration.max_drop:
                calibration.log(
                    f'int8 on ONNX Runtime loses more than '
                    f'{calibration.max_drop} meanDic on held-out frames; '
                    'accuracy-aware quantization is available with '
                    '--backend openvino')
        return WrittenModel(list(cls.MODEL_FILES), quantization)

    @classmethod
    def create(cls,
               cfg: Config,
               *,
               device: str = 'cpu',
               precision: Optional[str] = None,
               throughput: bool = False,
               model_file: Optional[str] = None) -> 'OnnxRuntimeBackend':
        """Open ``model_file``. The precision defaults to what the file
        holds; a batch runs as one call either way (``throughput``
        batches).

        Raises:
            ValueError: For a missing model file, bf16, a precision the file
                does not hold and slide inference.
        """
        if model_file is None:
            raise ValueError('the onnxruntime backend needs a model file '
                             '(model_file=, --model-file or --onnx)')
        if (cfg.model.get('test_cfg') or {}).get('mode') == 'slide':
            raise ValueError('slide inference (test_cfg.mode=slide) is '
                             'not supported with the ONNX backend')
        if precision == 'bf16':
            raise ValueError('ONNX Runtime\'s CPU provider runs no bf16 for '
                             'this model; use --backend openvino for bf16')
        session = onnx_session(model_file, device)
        quantized = is_quantized(model_file)
        if precision is None:
            precision = 'int8' if quantized else 'fp32'
        cls.check_precision(precision, device)
        if quantized != (precision == 'int8'):
            raise ValueError(
                f'{model_file} is {"an int8" if quantized else "a float"} '
                f'model; it cannot run as {precision}')
        # Only the preprocessor is needed: the weights are in the file.
        return cls(session, MODELS.build(cfg.model.data_preprocessor), device,
                   precision)

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        check_input_size(self.input_hw, inputs.shape[2:])
        logits, = self.session.run(
            [ONNX_LOGITS], {ONNX_INPUT: inputs.detach().cpu().float().numpy()})
        return torch.from_numpy(logits)
