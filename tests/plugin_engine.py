"""A stand-in engine, complete in this one file, as a plug-in package would
ship it: it declares its files, packages, model-file facts, how it writes
its model from the ONNX export and its options, and registers itself.
tests/test_engine_plugin.py installs it through an entry point and runs it
through the unchanged tools.

It runs the ONNX export with ONNX Runtime under a file name and a backend
name of its own, so its outputs can be checked against PyTorch's.
"""
import os.path as osp
import shutil
from typing import Optional

import torch
from mmseg.registry import MODELS

from ssformer_mmseg.apis.backends.base import (InferenceBackend, ModelFacts,
                                               WrittenModel, check_input_size,
                                               register_backend)
from ssformer_mmseg.apis.onnx_file import (ONNX_INPUT, ONNX_LOGITS, input_size,
                                           is_quantized, onnx_session)


@register_backend('standin')
class StandInBackend(InferenceBackend):
    """The ONNX export in an ONNX Runtime session, fp32 only."""

    PRECISIONS = ('fp32', )
    MODEL_FILES = ('network.standin', )
    REQUIRES = ('onnxruntime', )
    INSTALL_HINT = 'pip install onnxruntime'

    def __init__(self, session, data_preprocessor, device: str,
                 input_hw: list):
        self.session = session
        self.data_preprocessor = data_preprocessor
        self.device = device
        self.input_hw = input_hw

    @classmethod
    def inspect_model_file(cls, model_file: str) -> ModelFacts:
        return ModelFacts(is_quantized(model_file), input_size(model_file))

    @classmethod
    def write_model(cls, onnx_file, out_dir, precision, calibration=None):
        shutil.copyfile(onnx_file, osp.join(out_dir, cls.MODEL_FILES[0]))
        return WrittenModel(list(cls.MODEL_FILES))

    @classmethod
    def create(cls,
               cfg,
               *,
               device: str = 'cpu',
               precision: Optional[str] = None,
               throughput: bool = False,
               model_file: Optional[str] = None) -> 'StandInBackend':
        if model_file is None:
            raise ValueError('the standin backend needs a model file')
        cls.check_precision(precision or 'fp32', device)
        return cls(
            onnx_session(model_file, device),
            MODELS.build(cfg.model.data_preprocessor), device,
            input_size(model_file))

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        check_input_size(self.input_hw, inputs.shape[2:])
        logits, = self.session.run([ONNX_LOGITS],
                                   {ONNX_INPUT: inputs.float().numpy()})
        return torch.from_numpy(logits)
