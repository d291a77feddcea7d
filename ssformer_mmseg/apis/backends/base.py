"""What a runtime must provide: :class:`InferenceBackend`, and the registry.

A backend runs the network and nothing else: it gets the normalised batch
the config's ``data_preprocessor`` makes and returns one-channel logits at
the network input size. Pre- and post-processing are the segmenter's, the
same for every backend, so two backends differ only where their engines
do.

A backend also declares everything else about its engine, so that the
tools ask it instead of branching on its name: the packages it needs (with
the pip command), the model files it reads and a deployed folder holds, how
to tell what a model file holds (:meth:`~InferenceBackend.inspect_model_file`),
how to write its model from the ONNX export at a precision
(:meth:`~InferenceBackend.write_model`), what it runs natively here, and its
own keyword-only options of :meth:`~InferenceBackend.create`. A new runtime
is one module with one subclass registered with :func:`register_backend`
(docs/architecture.md, "Add an engine").
"""
import importlib.metadata
import inspect
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Type)

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from ...messages import quiet
from .. import optional

#: Backend name -> class, filled by :func:`register_backend`.
BACKENDS: Dict[str, Type['InferenceBackend']] = {}
#: The :meth:`InferenceBackend.create` options every backend takes.
COMMON_OPTIONS = ('device', 'precision', 'throughput')
#: The entry-point group under which installed packages declare backends.
PLUGIN_GROUP = 'ssformer_mmseg.backends'


class BackendPluginWarning(UserWarning):
    """An installed backend plug-in that cannot be imported."""


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator: make a backend available under ``name``."""

    def register(cls: type) -> type:
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return register


class ModelFacts(NamedTuple):
    """What an engine model file holds."""
    #: Whether it holds int8 quantization ops.
    quantized: bool
    #: Its input's height and width, None where not fixed.
    input_size: List[Optional[int]]


@dataclass
class Calibration:
    """What writing an int8 model is given (see
    :meth:`InferenceBackend.write_model`).

    Attributes:
        inputs (Sequence[np.ndarray]): Calibration inputs, (1, 3, H, W)
            network inputs of real frames.
        check (Callable, optional): ``check(run)`` measures a quantized
            model on held-out frames against the float model; ``run`` maps
            a (1, 3, H, W) input to ``{'logits': array}``. It returns a
            dict with ``fp32_meanDic``, ``int8_meanDic`` and ``drop``.
            None: no check.
        validation (Callable, optional): The ``(input, mask)`` pairs of
            that check, for engines with accuracy-aware quantization.
        accuracy_control (str): ``'auto'`` (accuracy-aware where the check
            drops more than ``max_drop``), ``'always'`` or ``'never'``.
        max_drop (float): The meanDic drop accuracy control allows.
        log (Callable): Progress messages.
    """
    inputs: Sequence[np.ndarray]
    check: Optional[Callable[[Callable], dict]] = None
    validation: Optional[Callable[[], List[tuple]]] = None
    accuracy_control: str = 'never'
    max_drop: float = 0.0
    log: Callable[[str], None] = quiet


@dataclass
class WrittenModel:
    """What :meth:`InferenceBackend.write_model` wrote: the file names (the
    backend's :attr:`~InferenceBackend.MODEL_FILES`) and, for int8, how it
    was quantized (``deploy.json``'s ``quantization`` entry)."""
    files: List[str]
    quantization: Optional[dict] = field(default=None)


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
    #: The engine model's file(s), as a deployed folder holds them and
    #: :meth:`write_model` writes them; the first is the one opened. Empty
    #: for a backend that runs a checkpoint: it is not a deployment target.
    MODEL_FILES: Tuple[str, ...] = ()
    #: Modules the runtime imports, and the pip command that installs them.
    REQUIRES: Tuple[str, ...] = ()
    INSTALL_HINT: Optional[str] = None
    #: Modules that writing an int8 model needs besides.
    QUANTIZATION_REQUIRES: Tuple[str, ...] = ()
    #: Whether ``create(throughput=True)`` builds another runtime (several
    #: requests in flight); if not, a batch is one call either way.
    HAS_THROUGHPUT_MODE = False
    data_preprocessor: nn.Module
    device: str
    #: What the network runs in (``'fp32'``, ``'bf16'``, ``'int8'``).
    precision: str = 'fp32'

    @classmethod
    def missing(cls, precision: Optional[str] = None) -> Optional[str]:
        """Why the runtime (writing a ``precision`` model, where given)
        cannot run here: the first missing package's message with its pip
        command; None if nothing is missing."""
        needs = [(module, f'the {cls.name} backend', cls.INSTALL_HINT)
                 for module in cls.REQUIRES]
        if precision == 'int8':
            # Their own install commands (NNCF's is not the engine's).
            needs += [(module, 'int8 quantization', None)
                      for module in cls.QUANTIZATION_REQUIRES]
        for module, purpose, hint in needs:
            try:
                optional.require(module, purpose, hint)
            except ImportError as error:
                return str(error)
        return None

    @classmethod
    def require(cls, precision: Optional[str] = None) -> None:
        """Raise :meth:`missing`'s reason as an ImportError."""
        reason = cls.missing(precision)
        if reason is not None:
            raise ImportError(reason)

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
    def options(cls) -> Tuple[str, ...]:
        """The backend's own options: the keyword-only parameters of its
        :meth:`create` besides :data:`COMMON_OPTIONS`."""
        return tuple(
            p.name for p in inspect.signature(cls.create).parameters.values()
            if p.kind == p.KEYWORD_ONLY and p.name not in COMMON_OPTIONS)

    @classmethod
    def inspect_model_file(cls, model_file: str) -> ModelFacts:
        """What the engine model file holds (int8 or not, input size), read
        without running it; the deployed folder's checks ask this.

        Raises:
            NotImplementedError: For a backend without model files.
        """
        raise NotImplementedError(
            f'the {cls.name} backend reads no model file')

    @classmethod
    def write_model(cls,
                    onnx_file: str,
                    out_dir: str,
                    precision: str,
                    calibration: Optional[Calibration] = None) -> WrittenModel:
        """Write the engine model of the network's ONNX export (fp32, as
        :func:`~ssformer_mmseg.apis.export_onnx` writes it) into
        ``out_dir`` for ``precision``; int8 is calibrated on
        ``calibration``.

        Raises:
            NotImplementedError: For a backend without model files.
        """
        raise NotImplementedError(
            f'the {cls.name} backend writes no model file')

    @classmethod
    @abstractmethod
    def create(cls,
               cfg: Config,
               *,
               device: str = 'cpu',
               precision: Optional[str] = None,
               throughput: bool = False) -> 'InferenceBackend':
        """Build the backend. Every backend takes these options; its own
        (a model file, a checkpoint, ...) follow as keyword-only
        parameters (:meth:`options`).

        Args:
            cfg (Config): The inference config (not modified).
            device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
            precision (str, optional): What the network runs in, one of
                :attr:`PRECISIONS` (default: fp32, or what the model file
                holds: an int8 file runs int8).
            throughput (bool): Tune for frames per second over many frames
                (several requests in flight) instead of one frame's
                latency.

        Raises:
            ValueError: If a required option is missing or does not fit.
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


def load_plugin_backends() -> List[str]:
    """Import the backends that installed packages declare in the
    :data:`PLUGIN_GROUP` entry-point group (each module registers its
    backend with :func:`register_backend` when imported), so the tools and
    deployed folders know them with no change here. A plug-in that fails
    to import is left out with a :class:`BackendPluginWarning` naming it
    and the error.

    Returns:
        list[str]: The entry points loaded.
    """
    loaded = []
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as error:  # a broken plug-in must not break us
            warnings.warn(
                f'backend plug-in {entry.name} ({entry.value}) cannot be '
                f'imported and is left out: {type(error).__name__}: {error}',
                BackendPluginWarning)
        else:
            loaded.append(entry.name)
    return loaded


def backend_class(name: str) -> Type[InferenceBackend]:
    """The backend registered as ``name``.

    Raises:
        ValueError: For an unknown name (listing the known ones).
    """
    if name not in BACKENDS:
        raise ValueError(f'unknown backend {name!r}; use one of '
                         f'{", ".join(sorted(BACKENDS))} (or install the '
                         'package whose plug-in provides it)')
    return BACKENDS[name]


def deployable_backends() -> Dict[str, Type[InferenceBackend]]:
    """The registered backends that run a model file (deployment targets),
    by name."""
    return {
        name: cls
        for name, cls in sorted(BACKENDS.items()) if cls.MODEL_FILES
    }


def misplaced_options(name: str, options: Sequence[str]) -> List[str]:
    """Those of ``options`` that backend ``name`` does not take."""
    taken = COMMON_OPTIONS + backend_class(name).options()
    return [option for option in options if option not in taken]


def build_backend(name: str, cfg: Config, **options) -> InferenceBackend:
    """The backend registered as ``name``, built with
    :meth:`InferenceBackend.create` and ``options``.

    Raises:
        ValueError: For an unknown name (listing the known ones) and for an
            option the backend does not take (naming it and the backend's
            own options).
    """
    cls = backend_class(name)
    misplaced = misplaced_options(name, list(options))
    if misplaced:
        own = ', '.join(cls.options()) or 'none'
        verb = 'does' if len(misplaced) == 1 else 'do'
        raise ValueError(
            f'{", ".join(misplaced)} {verb} not apply to backend {name} (its '
            f'own options: {own})')
    return cls.create(cfg, **options)
