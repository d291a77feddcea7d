"""ONNX Runtime as an inference backend, on an exported ONNX file
(``tools/export_onnx.py``)."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..onnx_export import ONNX_INPUT, ONNX_OUTPUTS
from ..optional import require
from .base import InferenceBackend, register_backend


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
    return ort.InferenceSession(onnx_file, providers=providers)


@register_backend('onnxruntime')
class OnnxRuntimeBackend(InferenceBackend):
    """An exported model in an ONNX Runtime session (CPU, or CUDA with
    ``onnxruntime-gpu``).

    Args:
        session (onnxruntime.InferenceSession): The session.
        data_preprocessor (nn.Module): The config's data preprocessor.
        device (str): ``'cpu'`` or ``'cuda[:N]'``.
    """

    def __init__(self,
                 session,
                 data_preprocessor: torch.nn.Module,
                 device: str = 'cpu'):
        self.session = session
        self.data_preprocessor = data_preprocessor
        self.device = device
        self.input_hw = session.get_inputs()[0].shape[2:]

    @classmethod
    def create(cls,
               cfg: Config,
               device: str = 'cpu',
               checkpoint: Optional[str] = None,
               model_file: Optional[str] = None,
               fast: Optional[dict] = None) -> 'OnnxRuntimeBackend':
        """Open ``model_file``; ``checkpoint`` is not read (the weights are
        in the file)."""
        if model_file is None:
            raise ValueError('the onnxruntime backend needs onnx_file')
        if fast is not None:
            raise ValueError('the PyTorch fast path (fast=...) does not '
                             'apply to the onnxruntime backend')
        if (cfg.model.get('test_cfg') or {}).get('mode') == 'slide':
            raise ValueError('slide inference (test_cfg.mode=slide) is '
                             'not supported with the ONNX backend')
        session = onnx_session(model_file, device)
        # Only the preprocessor is needed: the weights are in the file.
        return cls(session, MODELS.build(cfg.model.data_preprocessor), device)

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        expected = [d if isinstance(d, int) else None for d in self.input_hw]
        got = list(inputs.shape[2:])
        if any(e is not None and e != g for e, g in zip(expected, got)):
            raise ValueError(
                f'the ONNX model takes {expected[0]}x{expected[1]} inputs but '
                f'the config\'s test pipeline gives {got[0]}x{got[1]}; '
                'export with the same config (or --shape)')
        logits, = self.session.run(
            [ONNX_OUTPUTS[0]],
            {ONNX_INPUT: inputs.detach().cpu().float().numpy()})
        return torch.from_numpy(logits)
