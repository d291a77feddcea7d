"""ONNX Runtime as an inference backend, on an exported ONNX file
(``tools/export_onnx.py``)."""
import os.path as osp
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..onnx_export import ONNX_INPUT, ONNX_OUTPUTS
from ..optional import require
from .base import InferenceBackend, check_input_size, register_backend

#: Op types that only a quantized (int8) model holds.
QUANTIZED_OP_TYPES = ('QuantizeLinear', 'DequantizeLinear', 'QLinearConv',
                      'QLinearMatMul', 'MatMulInteger', 'ConvInteger')


def onnx_session(onnx_file: str, device: str = 'cpu'):
    """An ONNX Runtime session on the CPU, or CUDA when asked.

    Raises:
        ValueError: If CUDA is asked but this onnxruntime has no CUDA
            provider (``pip install onnxruntime-gpu``).
    """
    ort = require('onnxruntime')
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'{onnx_file}: ONNX file not found')
    providers = ['CPUExecutionProvider']
    if device.startswith('cuda'):
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            raise ValueError(
                'this onnxruntime has no CUDAExecutionProvider; install '
                'onnxruntime-gpu or use --device cpu')
        index = int(device.split(':')[1]) if ':' in device else 0
        providers = [('CUDAExecutionProvider', dict(device_id=index))
                     ] + providers
    options = ort.SessionOptions()
    # The same CPU threads as PyTorch, so comparisons are fair.
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(
        onnx_file, sess_options=options, providers=providers)


def is_quantized(onnx_file: str) -> bool:
    """Whether an ONNX file holds int8 quantization ops."""
    onnx = require('onnx')
    graph = onnx.load(onnx_file, load_external_data=False).graph
    return any(node.op_type in QUANTIZED_OP_TYPES for node in graph.node)


def input_size(onnx_file: str) -> List[Optional[int]]:
    """Height and width of an ONNX file's input (None where not fixed)."""
    onnx = require('onnx')
    graph = onnx.load(onnx_file, load_external_data=False).graph
    dims = graph.input[0].type.tensor_type.shape.dim[2:]
    return [d.dim_value if d.HasField('dim_value') else None for d in dims]


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
            [ONNX_OUTPUTS[0]],
            {ONNX_INPUT: inputs.detach().cpu().float().numpy()})
        return torch.from_numpy(logits)
