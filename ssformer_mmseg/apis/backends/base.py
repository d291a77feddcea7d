"""What a runtime must provide to :class:`~ssformer_mmseg.apis.PolypSegmenter`.

A backend runs the network and nothing else: it gets the normalised batch
the config's ``data_preprocessor`` makes and returns one-channel logits at
the network input size. Pre- and post-processing are the segmenter's, the
same for every backend, so two backends differ only where their engines
do. A new runtime is a new subclass registered with
:func:`register_backend`; the segmenter never changes.
"""
from abc import ABCMeta, abstractmethod
from typing import Callable, Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
from mmengine.config import Config

#: Backend name -> class, filled by :func:`register_backend`.
BACKENDS: Dict[str, Type['InferenceBackend']] = {}


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator: make a backend available under ``name``."""

    def register(cls: type) -> type:
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return register


class InferenceBackend(metaclass=ABCMeta):
    """One runtime that computes logits from a normalised batch.

    Attributes:
        name (str): The registered name (``'pytorch'``, ...).
        data_preprocessor (nn.Module): The config's data preprocessor (BGR
            to RGB, mean/std, batching), applied before :meth:`logits`.
        device (str): Where it runs (``'cpu'``, ``'cuda:0'``, ...).
    """

    name = ''
    #: Precisions the runtime can run at all (this CPU may run fewer, see
    #: :meth:`supported_precisions`).
    PRECISIONS: Tuple[str, ...] = ('fp32', )
    data_preprocessor: nn.Module
    device: str
    #: What the network runs in (``'fp32'``, ``'bf16'``, ``'int8'``).
    precision: str = 'fp32'

    @classmethod
    def supported_precisions(cls, device: str = 'cpu') -> Tuple[str, ...]:
        """The precisions this runtime runs natively on ``device`` here."""
        return cls.PRECISIONS

    @classmethod
    def check_precision(cls, precision: str, device: str = 'cpu') -> None:
        """Raise a ValueError saying why ``precision`` cannot run here."""
        if precision not in cls.PRECISIONS:
            raise ValueError(
                f'the {cls.name} backend has no {precision} precision; it '
                f'runs {", ".join(cls.PRECISIONS)}')
        supported = cls.supported_precisions(device)
        if precision not in supported:
            raise ValueError(
                f'{precision} does not run natively with the {cls.name} '
                f'backend on {device} here (it runs {", ".join(supported)})')

    @classmethod
    @abstractmethod
    def create(cls,
               cfg: Config,
               device: str = 'cpu',
               checkpoint: Optional[str] = None,
               model_file: Optional[str] = None,
               fast: Optional[dict] = None,
               precision: Optional[str] = None,
               throughput: bool = False) -> 'InferenceBackend':
        """Build the backend from what the tools and
        :class:`~ssformer_mmseg.apis.PolypSegmenter` are given.

        Args:
            cfg (Config): The inference config (not modified).
            device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
            checkpoint (str, optional): PyTorch weights, for backends that
                read them.
            model_file (str, optional): The engine's own model file (an
                exported ONNX file, ...), for backends that need one.
            fast (dict, optional): Options of the PyTorch fast path.
            precision (str, optional): What the network runs in, one of
                :attr:`PRECISIONS` (default: fp32, or what the model file
                holds: an int8 file runs int8).
            throughput (bool): Tune for frames per second over many frames
                (several requests in flight) instead of one frame's
                latency.

        Raises:
            ValueError: If an option does not apply to this backend or a
                required one is missing.
        """

    @abstractmethod
    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        """Logits (N, 1, H, W) at the network input size.

        Args:
            inputs (Tensor): (N, 3, H, W) normalised batch.
            data_samples (list[SegDataSample]): Their samples (metainfo).
        """


def check_input_size(expected: Sequence[Optional[int]],
                     got: Sequence[int]) -> None:
    """Raise a ValueError if a model with fixed input (height, width)
    ``expected`` (None: free) gets another size."""
    if any(e is not None and e != g for e, g in zip(expected, got)):
        raise ValueError(
            f'the model takes {expected[0]}x{expected[1]} inputs but the '
            f'test pipeline gives {got[0]}x{got[1]}; export with the same '
            'config (or --shape)')


def build_backend(name: str, cfg: Config, **options) -> InferenceBackend:
    """The backend registered as ``name``, built with
    :meth:`InferenceBackend.create` and ``options``.

    Raises:
        ValueError: For an unknown name (listing the known ones).
    """
    if name not in BACKENDS:
        raise ValueError(f'unknown backend {name!r}; use one of '
                         f'{", ".join(sorted(BACKENDS))}')
    # Backends written before precision and throughput existed keep
    # working as long as those are not asked of them.
    for option, default in (('precision', None), ('throughput', False)):
        if options.get(option, default) == default:
            options.pop(option, None)
    return BACKENDS[name].create(cfg, **options)
