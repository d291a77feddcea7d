"""Inference backends, one per runtime, behind one interface
(:class:`~.base.InferenceBackend`)."""
from .base import BACKENDS, InferenceBackend, build_backend, register_backend
from .onnx_runtime import OnnxRuntimeBackend, onnx_session
from .pytorch import PyTorchBackend

__all__ = [
    'InferenceBackend', 'BACKENDS', 'build_backend', 'register_backend',
    'PyTorchBackend', 'OnnxRuntimeBackend', 'onnx_session'
]
