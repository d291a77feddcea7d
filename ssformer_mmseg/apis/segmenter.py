"""The segmenter: batches of BGR frames in, foreground probability maps out."""
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from .._deprecation import warn_deprecated
from ..config import ConfigLike, load_config
from .backends import InferenceBackend, build_backend, misplaced_options
from .pipeline import binary_head, frame_pipeline
from .postprocess import foreground_mask, logits_to_probs

#: Options that backends which do not read them ignored before the backends
#: declared their options; given to such a backend they warn and are dropped.
_IGNORED_BEFORE = ('checkpoint', 'model_file')


def _backend_options(name: str, **given) -> dict:
    """The options given (not None) for backend ``name``; a checkpoint or
    model file it does not read warns (deprecated) and is dropped, any
    other misplaced option is :func:`~.backends.build_backend`'s error."""
    options = {key: value for key, value in given.items() if value is not None}
    for option in misplaced_options(name, list(options)):
        if option in _IGNORED_BEFORE:
            warn_deprecated(
                f'PolypSegmenter({option}=...) with backend {name}, which '
                'does not read it,',
                'leave it out',
                stacklevel=4)
            del options[option]
    return options


def _check_frame(frame: np.ndarray, index: int) -> None:
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
            and frame.ndim == 3 and frame.shape[2] == 3):
        description = (f'{frame.dtype} array of shape {frame.shape}'
                       if isinstance(frame, np.ndarray) else type(frame))
        raise ValueError(f'frame {index}: expected an (H, W, 3) uint8 BGR '
                         f'image, got {description}')


class PolypSegmenter:
    """Foreground probability maps for batches of BGR frames.

    Preprocessing is the config's test pipeline on decoded frames
    (:func:`~.pipeline.frame_pipeline`) and the model's
    ``data_preprocessor``; the network runs in a backend (one object per
    runtime, :mod:`.backends`); post-processing is mmseg's
    (:func:`~.postprocess.logits_to_probs`). With the PyTorch backend the
    result equals mmseg's ``inference_model`` ``seg_logits``.

    Args:
        config (str | Config): A config with a test pipeline (e.g.
            ``configs/ssformer_s_kvasir.py``); not modified.
        checkpoint (str, optional): Weights for the PyTorch backend; without
            them the model keeps its random initialisation. The engine
            backends' weights are in ``model_file``; a checkpoint given to
            them is ignored with a deprecation warning (an error from
            0.3.0), as is a ``model_file`` given to the PyTorch backend.
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        cfg_options (dict, optional): Config overrides (``--cfg-options``).
        backend (str | InferenceBackend): ``'pytorch'``, ``'onnxruntime'``,
            ``'openvino'`` (any name in :data:`~.backends.BACKENDS`), or a
            backend object built already (then ``checkpoint``, ``device``,
            ``model_file``, ``fast``, ``precision`` and
            ``throughput`` are not used). The object is kept as
            :attr:`runtime`; :attr:`backend` is its name.
        onnx_file (str, optional): Deprecated name of ``model_file`` (it
            warns; removed in 0.3.0).
        threshold (float, optional): Foreground threshold for
            :meth:`mask`; defaults to the head's ``threshold`` (0.5).
        fast (dict, optional): Keyword arguments of
            :func:`~ssformer_mmseg.optimize.optimize_for_inference` (``{}``
            for its defaults); the PyTorch model is optimized with them
            (an error with the backends that have no fast path).
        model_file (str, optional): The engine's model file (ONNX, or
            OpenVINO IR ``.xml``) for the engine backends.
        precision (str, optional): ``'fp32'``, ``'bf16'`` or ``'int8'``
            (what the backend runs; see each backend).
        throughput (bool): Tune the engine for frames per second over many
            frames (several requests in flight) rather than latency.
    """

    def __init__(self,
                 config: ConfigLike,
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 cfg_options: Optional[dict] = None,
                 backend: Union[str, InferenceBackend] = 'pytorch',
                 onnx_file: Optional[str] = None,
                 threshold: Optional[float] = None,
                 fast: Optional[dict] = None,
                 model_file: Optional[str] = None,
                 precision: Optional[str] = None,
                 throughput: bool = False):
        if onnx_file is not None:
            if model_file is not None:
                raise ValueError('give onnx_file or model_file, not both')
            warn_deprecated('PolypSegmenter(onnx_file=...)',
                            'pass model_file=')
            model_file = onnx_file
        cfg = load_config(config, cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        head = binary_head(cfg)
        self.cfg = cfg
        self.align_corners = bool(head.get('align_corners', False))
        if threshold is None:
            threshold = head.get('threshold')
        self.threshold = float(0.5 if threshold is None else threshold)
        self.pipeline = Compose(frame_pipeline(cfg))
        if isinstance(backend, str):
            backend = build_backend(
                backend,
                cfg,
                device=device,
                precision=precision,
                throughput=throughput,
                **_backend_options(
                    backend,
                    checkpoint=checkpoint,
                    model_file=model_file,
                    fast=fast))
        #: The backend object that runs the network.
        self.runtime = backend
        #: Its registered name (``'pytorch'``, ``'onnxruntime'``, ...).
        self.backend = backend.name
        self.device = backend.device
        #: What the network runs in (``'fp32'``, ``'bf16'``, ``'int8'``).
        self.precision = backend.precision
        self.data_preprocessor = backend.data_preprocessor

    @property
    def model(self) -> Optional[torch.nn.Module]:
        """The PyTorch segmentor, for backends that run one (else None)."""
        return getattr(self.runtime, 'model', None)

    @model.setter
    def model(self, model: torch.nn.Module) -> None:
        if not hasattr(self.runtime, 'model'):
            raise AttributeError(f'the {self.backend} backend runs no '
                                 'PyTorch model')
        self.runtime.model = model

    @property
    def session(self):
        """The ONNX Runtime session, for that backend (else None)."""
        return getattr(self.runtime, 'session', None)

    def preprocess(self, frames: Sequence[np.ndarray]) -> dict:
        """Test pipeline + data preprocessor: ``{'inputs', 'data_samples'}``
        with ``inputs`` a normalised (N, 3, H, W) batch."""
        inputs, samples = [], []
        for index, frame in enumerate(frames):
            _check_frame(frame, index)
            packed = self.pipeline(dict(img=frame))
            inputs.append(packed['inputs'])
            samples.append(packed['data_samples'])
        return self.data_preprocessor(
            dict(inputs=inputs, data_samples=samples), False)

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        """Logits (N, 1, H, W) at the network input size."""
        return self.runtime.logits(inputs, data_samples)

    @torch.no_grad()
    def __call__(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Segment a batch of frames.

        Args:
            frames (list[np.ndarray]): (H, W, 3) uint8 BGR frames, sizes may
                differ.

        Returns:
            list[np.ndarray]: (H, W) float32 foreground probabilities, one
            per frame at its own size.
        """
        if not frames:
            return []
        data = self.preprocess(frames)
        logits = self.logits(data['inputs'], data['data_samples'])
        return logits_to_probs(logits, data['data_samples'],
                               self.align_corners)

    def mask(self, prob: np.ndarray) -> np.ndarray:
        """{0, 255} uint8 mask: ``prob > threshold`` (mmseg's rule)."""
        return foreground_mask(prob, self.threshold)
