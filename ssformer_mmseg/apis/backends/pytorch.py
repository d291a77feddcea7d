"""The PyTorch model as an inference backend (the default)."""
from typing import Optional

import torch
from mmengine.config import Config

from ...optimize import optimize_for_inference
from ..loading import load_segmentor
from .base import InferenceBackend, register_backend


@register_backend('pytorch')
class PyTorchBackend(InferenceBackend):
    """The segmentor in PyTorch, eager or through the fast path.

    Runs what mmseg's ``EncoderDecoder.inference`` runs (``encode_decode``,
    or ``slide_inference`` with ``test_cfg.mode='slide'``), so probabilities
    equal mmseg's ``inference_model``.

    Args:
        model (nn.Module): The segmentor, in eval mode.
        device (str): Its device.
    """

    def __init__(self, model: torch.nn.Module, device: str = 'cpu'):
        self.model = model
        self.device = device
        self.data_preprocessor = model.data_preprocessor

    @classmethod
    def create(cls,
               cfg: Config,
               device: str = 'cpu',
               checkpoint: Optional[str] = None,
               model_file: Optional[str] = None,
               fast: Optional[dict] = None) -> 'PyTorchBackend':
        """Load ``checkpoint`` strictly (random weights without one) and,
        with ``fast`` (keyword arguments of
        :func:`~ssformer_mmseg.optimize.optimize_for_inference`, ``{}`` for
        its defaults), optimize the model. ``model_file`` is not read."""
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'device {device!r}: this PyTorch has no '
                             'usable CUDA; use device cpu')
        model = load_segmentor(cfg, checkpoint, device)
        if fast is not None:
            model = optimize_for_inference(model, **fast)
        return cls(model, device)

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        metas = [sample.metainfo for sample in data_samples]
        # What EncoderDecoder.inference runs, without its warning about
        # frames of different sizes in one batch (normal for folders).
        if (self.model.test_cfg or {}).get('mode', 'whole') == 'slide':
            return self.model.slide_inference(inputs, metas)
        return self.model.encode_decode(inputs, metas)
