"""Inference backends, one per runtime, behind one interface
(:class:`~.base.InferenceBackend`). The engines' packages are imported only
when a backend is built."""
from ..onnx_file import onnx_session
from .base import (BACKENDS, InferenceBackend, build_backend, check_input_size,
                   register_backend)
from .onnx_runtime import OnnxRuntimeBackend
from .openvino import OpenVINOBackend
from .pytorch import PyTorchBackend

__all__ = [
    'InferenceBackend', 'BACKENDS', 'build_backend', 'register_backend',
    'PyTorchBackend', 'OnnxRuntimeBackend', 'OpenVINOBackend', 'onnx_session',
    'check_input_size'
]
