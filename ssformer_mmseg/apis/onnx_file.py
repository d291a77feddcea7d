"""What an exported ONNX file of the network is: its input and output names,
and the facts read from a file (int8 or not, input size) or a session on it.

A leaf module (only :mod:`.optional` beneath it), so the export
(:mod:`.onnx_export`), the ONNX Runtime backend and the deploy step all ask
it without importing each other.
"""
import os.path as osp
from typing import List, Optional

import torch

from .optional import require

#: The graph's input: the normalised RGB batch (N, 3, H, W).
ONNX_INPUT = 'input'
#: The graph's outputs at the input size: logits, and their sigmoid.
ONNX_LOGITS = 'logits'
ONNX_PROBS = 'probs'
ONNX_OUTPUTS = (ONNX_LOGITS, ONNX_PROBS)

#: Op types that only a quantized (int8) ONNX model holds.
QUANTIZED_OP_TYPES = ('QuantizeLinear', 'DequantizeLinear', 'QLinearConv',
                      'QLinearMatMul', 'MatMulInteger', 'ConvInteger')


def onnx_session(onnx_file: str, device: str = 'cpu'):
    """An ONNX Runtime session on the CPU, or CUDA when asked.

    Raises:
        FileNotFoundError: If ``onnx_file`` does not exist.
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


def _graph(onnx_file: str):
    onnx = require('onnx')
    return onnx.load(onnx_file, load_external_data=False).graph


def is_quantized(onnx_file: str) -> bool:
    """Whether an ONNX file holds int8 quantization ops."""
    return any(
        node.op_type in QUANTIZED_OP_TYPES for node in _graph(onnx_file).node)


def input_size(onnx_file: str) -> List[Optional[int]]:
    """Height and width of an ONNX file's input (None where not fixed)."""
    dims = _graph(onnx_file).input[0].type.tensor_type.shape.dim[2:]
    return [d.dim_value if d.HasField('dim_value') else None for d in dims]
