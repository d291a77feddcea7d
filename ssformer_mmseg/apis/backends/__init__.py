"""Inference backends, one per runtime, behind one interface
(:class:`~.base.InferenceBackend`), each declaring everything about its
engine. The engines' packages are imported only when a backend is built.
Backends of installed plug-in packages (entry-point group
``ssformer_mmseg.backends``) are registered on import, after these."""
from ..onnx_file import onnx_session
from .base import (BACKENDS, COMMON_OPTIONS, PLUGIN_GROUP,
                   BackendPluginWarning, Calibration, InferenceBackend,
                   ModelFacts, WrittenModel, backend_class, build_backend,
                   check_input_size, deployable_backends, load_plugin_backends,
                   misplaced_options, register_backend)
from .onnx_runtime import OnnxRuntimeBackend
from .openvino import OpenVINOBackend
from .pytorch import PyTorchBackend

load_plugin_backends()

__all__ = [
    'InferenceBackend', 'BACKENDS', 'COMMON_OPTIONS', 'PLUGIN_GROUP',
    'BackendPluginWarning', 'build_backend', 'register_backend',
    'backend_class', 'deployable_backends', 'load_plugin_backends',
    'misplaced_options', 'Calibration', 'ModelFacts', 'WrittenModel',
    'PyTorchBackend', 'OnnxRuntimeBackend', 'OpenVINOBackend', 'onnx_session',
    'check_input_size'
]
