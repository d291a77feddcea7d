"""ONNX Runtime as an inference backend, on an exported ONNX file
(``tools/export_onnx.py``)."""
from typing import Optional, Tuple

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..onnx_file import ONNX_INPUT, ONNX_LOGITS, is_quantized, onnx_session
from .base import InferenceBackend, check_input_size, register_backend


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
    def supported_precisions(cls, device: str = 'cpu') -> Tuple[str, ...]:
        return cls.PRECISIONS

    @classmethod
    def create(cls,
               cfg: Config,
               device: str = 'cpu',
               checkpoint: Optional[str] = None,
               model_file: Optional[str] = None,
               fast: Optional[dict] = None,
               precision: Optional[str] = None,
               throughput: bool = False) -> 'OnnxRuntimeBackend':
        """Open ``model_file``; ``checkpoint`` is not read (the weights are
        in the file). The precision defaults to what the file holds; a
        batch runs as one call either way (``throughput`` batches).

        Raises:
            ValueError: For bf16, a precision the file does not hold, slide
                inference and options of other backends.
        """
        if model_file is None:
            raise ValueError('the onnxruntime backend needs onnx_file')
        if fast is not None:
            raise ValueError('the PyTorch fast path (fast=...) does not '
                             'apply to the onnxruntime backend')
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
