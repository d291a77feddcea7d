"""The PyTorch model as an inference backend (the default)."""
from typing import Optional, Tuple

import torch
from mmengine.config import Config

from ...cpu_features import onednn_bf16_supported
from ...optimize import PRECISIONS, default_precision, optimize_for_inference
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
        precision (str): What it computes in (the fast path's precision).
    """

    PRECISIONS = tuple(PRECISIONS)

    def __init__(self,
                 model: torch.nn.Module,
                 device: str = 'cpu',
                 precision: str = 'fp32'):
        self.model = model
        self.device = device
        self.precision = precision
        self.data_preprocessor = model.data_preprocessor

    @classmethod
    def supported_precisions(cls, device: str = 'cpu') -> Tuple[str, ...]:
        if device.startswith('cuda'):
            return cls.PRECISIONS
        # Emulated bf16 runs, but many times slower than fp32; fp16 autocast
        # on CPU has no fast kernels.
        return ('fp32', 'bf16') if onednn_bf16_supported() else ('fp32', )

    @classmethod
    def create(cls,
               cfg: Config,
               *,
               device: str = 'cpu',
               precision: Optional[str] = None,
               throughput: bool = False,
               checkpoint: Optional[str] = None,
               fast: Optional[dict] = None) -> 'PyTorchBackend':
        """Load ``checkpoint`` strictly (random weights without one) and,
        with ``fast`` (keyword arguments of
        :func:`~ssformer_mmseg.optimize.optimize_for_inference`, ``{}`` for
        its defaults), optimize the model. A ``precision`` other than fp32
        runs the fast path at that precision; ``throughput`` changes
        nothing (a batch runs as one call)."""
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ValueError(f'device {device!r}: this PyTorch has no '
                             'usable CUDA; use device cpu')
        if precision not in (None, 'fp32'):
            if precision not in cls.PRECISIONS:
                cls.check_precision(precision, device)
            fast = dict(fast or {}, precision=precision)
        model = load_segmentor(cfg, checkpoint, device)
        if fast is not None:
            model = optimize_for_inference(model, **fast)
            precision = fast.get('precision') or default_precision(device)
        return cls(model, device, precision or 'fp32')

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        metas = [sample.metainfo for sample in data_samples]
        # What EncoderDecoder.inference runs, without its warning about
        # frames of different sizes in one batch (normal for folders).
        if (self.model.test_cfg or {}).get('mode', 'whole') == 'slide':
            return self.model.slide_inference(inputs, metas)
        return self.model.encode_decode(inputs, metas)
