"""Polyp segmentation of frames, image folders and videos; ONNX export.

One code path serves every input: images (read with the checked reader of
:mod:`ssformer_mmseg.datasets.polyp_files`) and video frames (decoded with
OpenCV) become BGR arrays, and :class:`PolypSegmenter` turns a batch of them
into foreground probability maps at each frame's own size:

1. the config's test pipeline, with its file loader replaced by mmseg's
   ``LoadImageFromNDArray`` and its annotation loader dropped (for our
   configs: resize to 352x352, pack);
2. the model's ``data_preprocessor`` (BGR -> RGB, mean/std, batching);
3. the network: PyTorch (``encode_decode`` / ``slide_inference``, exactly
   what mmseg's ``inference`` runs) or an exported ONNX model, both giving
   logits at the network input size;
4. what mmseg's ``BaseSegmentor.postprocess_result`` does for a one-channel
   head: crop any padding, resize the *logits* bilinearly to the original
   frame size with the head's ``align_corners``, then sigmoid.

Thresholding (``prob > threshold``, mmseg's rule), 8-bit maps, overlays and
the writers live here too, so ``tools/infer.py`` only parses arguments.

mmseg's own APIs need a config whose test pipeline they understand;
:func:`inference_config` makes one from ours (see its docstring).

``onnx``, ``onnxscript`` and ``onnxruntime`` are optional and imported only
by the ONNX functions (``pip install -e ".[onnx]"``).
"""
import copy
import importlib
import os
import os.path as osp
import sys
import time
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, Union)

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.models.utils import resize
from mmseg.registry import MODELS

from ..config import load_config, set_data_root
from ..datasets.polyp import IMAGE_SUFFIXES, PolypDataset
from ..datasets.polyp_files import PolypFileError, is_system_file, read_image
from ..evaluation.polyp_scores import to_uint8_map
from ..partial_outputs import removed_on_error
from .optimize import optimize_for_inference

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg',
                  '.wmv', '.webm')
# Transforms that read the frame; replaced, since frames arrive decoded.
_LOADERS = ('LoadImageFromFile', 'LoadPolypImage', 'LoadImageFromNDArray',
            'InferencerLoader')
ONNX_INPUT = 'input'
ONNX_OUTPUTS = ('logits', 'probs')
_ONNX_HINT = ('pip install onnx onnxscript onnxruntime  (or pip install -e '
              '".[onnx]"; onnxruntime-gpu for CUDA)')

ConfigLike = Union[str, Config]


# --------------------------------------------------------------------------
# Configs and pipelines
# --------------------------------------------------------------------------
def _as_config(config: ConfigLike,
               cfg_options: Optional[dict] = None) -> Config:
    """A private copy of ``config`` with ``cfg_options`` applied."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        options = dict(cfg_options or {})
        data_root = options.pop('data_root', None)
        if options:
            cfg.merge_from_dict(options)
        if data_root is not None:  # as load_config does for files
            set_data_root(cfg, data_root)
        return cfg
    return load_config(config, cfg_options)


def _type_name(transform: dict) -> str:
    # Scoped names ('mmseg.Resize') compare by their last part.
    return str(transform.get('type', '')).split('.')[-1]


def _dataset_pipeline(dataset: dict) -> Optional[list]:
    """A dataset config's pipeline; a ConcatDataset's parts must agree."""
    if dataset.get('type') == 'ConcatDataset' or 'datasets' in dataset:
        pipelines = [_dataset_pipeline(part) for part in dataset['datasets']]
        pipelines = [p for p in pipelines if p is not None]
        if not pipelines:
            return None
        if any(p != pipelines[0] for p in pipelines[1:]):
            raise ValueError(
                'the test datasets of this config use different pipelines; '
                'set the one to infer with as test_pipeline')
        return pipelines[0]
    pipeline = dataset.get('pipeline')
    return list(pipeline) if pipeline is not None else None


def config_test_pipeline(cfg: Config) -> list:
    """The pipeline the config tests with.

    ``test_dataloader.dataset.pipeline`` (what ``tools/test.py`` scores)
    comes first, then the top-level ``test_pipeline`` (what mmseg's
    ``inference_model`` reads); in our configs they are the same.

    Raises:
        ValueError: If the config has neither, e.g. a model-only base config.
    """
    pipeline = None
    if cfg.get('test_dataloader') is not None:
        pipeline = _dataset_pipeline(cfg.test_dataloader.get('dataset', {}))
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    if not pipeline:
        raise ValueError(
            'the config has no test pipeline (test_dataloader.dataset.'
            'pipeline or test_pipeline); use a runnable config such as '
            'configs/ssformer_s_kvasir.py')
    return copy.deepcopy(list(pipeline))


def _without_annotations(pipeline: list, loader: str) -> list:
    """The pipeline with ``loader`` as first step and no annotation loading.

    Raises:
        ValueError: If the pipeline does not start by loading the image, or
            is a test-time-augmentation pipeline (one view per frame here).
    """
    if not pipeline or _type_name(pipeline[0]) not in _LOADERS:
        raise ValueError(
            'the test pipeline must start with an image loader '
            f'({", ".join(_LOADERS)}); it starts with '
            f'{pipeline[0] if pipeline else "nothing"}')
    steps = [copy.deepcopy(t) for t in pipeline[1:]]
    if any(_type_name(t) == 'TestTimeAug' for t in steps):
        raise ValueError('test-time augmentation pipelines are not supported '
                         'for inference; use the plain test pipeline')
    steps = [t for t in steps if 'Annotation' not in _type_name(t)]
    first = {k: v for k, v in pipeline[0].items()
             if k in ('to_float32', 'backend_args')}
    if loader == 'LoadImageFromNDArray':
        first.pop('backend_args', None)
    return [dict(type=loader, **first)] + steps


def frame_pipeline(cfg: Config) -> list:
    """The config's test pipeline for frames that are already decoded.

    The file loader becomes mmseg's ``LoadImageFromNDArray`` (BGR uint8
    input, ``ori_shape`` set from the array) and annotation loading is
    dropped; every other step (the resize) is kept as configured.
    """
    return _without_annotations(
        config_test_pipeline(cfg), 'LoadImageFromNDArray')


def inference_config(config: ConfigLike,
                     cfg_options: Optional[dict] = None) -> Config:
    """A copy of a config that mmseg's own inference APIs accept.

    ``init_model`` + ``inference_model`` work with our configs as written
    (``LoadPolypAnnotations`` passes samples without a mask through), but
    ``MMSegInferencer`` requires a step named exactly ``LoadImageFromFile``
    in ``test_dataloader.dataset.pipeline`` (ours load with the checked
    ``LoadPolypImage``, and multi-set configs test a ``ConcatDataset``). The
    copy returned has

    * ``test_pipeline``: our checked ``LoadPolypImage`` (``inference_model``
      swaps in ``LoadImageFromNDArray`` for arrays itself), the test steps,
      no annotation loading;
    * ``test_dataloader.dataset``: the (first) test dataset with that
      pipeline, loading with ``LoadImageFromFile`` for ``MMSegInferencer``.

    The backbone's ``init_cfg`` is cleared: weights come from a checkpoint,
    never from a download. Use the copy for inference only.

    Example:
        >>> cfg = inference_config('configs/ssformer_s_kvasir.py')
        >>> model = init_model(cfg, 'iter_20000.pth', device='cpu')
        >>> result = inference_model(model, 'frame.jpg')
        >>> inferencer = MMSegInferencer(model=cfg, weights='iter_20000.pth')

    Args:
        config (str | Config): Config file or object (not modified).
        cfg_options (dict, optional): Overrides, as for ``--cfg-options``.

    Returns:
        Config: The inference config.
    """
    cfg = _as_config(config, cfg_options)
    pipeline = config_test_pipeline(cfg)
    cfg.test_pipeline = _without_annotations(pipeline, 'LoadPolypImage')
    dataset = cfg.test_dataloader.get('dataset') if cfg.get(
        'test_dataloader') is not None else None
    while dataset is not None and 'datasets' in dataset:
        dataset = dataset['datasets'][0]
    dataset = copy.deepcopy(dict(dataset or {}))
    dataset['pipeline'] = _without_annotations(pipeline, 'LoadImageFromFile')
    loader = dict(cfg.get('test_dataloader') or {})
    loader['dataset'] = dataset
    cfg.test_dataloader = loader
    if cfg.model.get('backbone') is not None:
        cfg.model.backbone.init_cfg = None
    return cfg


def _binary_head(cfg: Config) -> dict:
    """The decode head config; inference here is for one-channel heads."""
    head = cfg.model.get('decode_head')
    if isinstance(head, (list, tuple)):  # cascade: the last head predicts
        head = head[-1]
    if head is None:
        raise ValueError('the model has no decode_head')
    out_channels = head.get('out_channels', head.get('num_classes'))
    if out_channels != 1:
        raise ValueError(
            'PolypSegmenter needs a binary one-channel head (out_channels=1, '
            f'sigmoid); this config\'s head has out_channels={out_channels}')
    return head


# --------------------------------------------------------------------------
# ONNX (optional dependencies, imported lazily)
# --------------------------------------------------------------------------
def require(module: str):
    """Import an optional ONNX dependency or explain how to install it.

    Raises:
        ImportError: Naming the module and the pip command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{module} is needed for ONNX export / inference but cannot be '
            f'imported ({error}); install it with: {_ONNX_HINT}') from None


class LogitsAtInputSize(nn.Module):
    """The exported network: normalised RGB batch -> logits and probabilities.

    ``logits = resize(model(x, mode='tensor'), x.shape[2:], bilinear,
    align_corners=head.align_corners)``, i.e. the head's 1/4-scale logits
    with SSFormer's own x4 upsampling (``align_corners=True``); this is what
    mmseg's ``encode_decode`` returns in ``whole`` test mode. ``probs`` is
    their sigmoid, for consumers that work at the network size. Resizing to
    the frame's own size stays outside the graph: it must be applied to the
    logits (as mmseg does), and every frame has its own size.

    Args:
        model (nn.Module): An mmseg ``EncoderDecoder`` in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.align_corners = bool(model.align_corners)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        logits = self.model(inputs, mode='tensor')
        logits = resize(
            logits,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners,
            warning=False)
        return logits, logits.sigmoid()


def network_input_size(cfg: Config) -> Tuple[int, int]:
    """(height, width) the test pipeline resizes every frame to.

    Raises:
        ValueError: If the pipeline has no fixed-size ``Resize``
            (``keep_ratio=False``), so the size depends on the frame.
    """
    for step in frame_pipeline(cfg):
        if _type_name(step) == 'Resize' and not step.get('keep_ratio', False):
            scale = step['scale']
            if isinstance(scale, int):
                return scale, scale
            return int(scale[1]), int(scale[0])  # mmcv scales are (w, h)
    raise ValueError('the test pipeline has no fixed-size Resize '
                     '(keep_ratio=False); pass the input size explicitly')


def export_onnx(model: nn.Module,
                out_file: str,
                shape: Tuple[int, int] = (352, 352),
                opset: int = 17,
                dynamic_batch: bool = True,
                dynamic_hw: bool = False,
                exporter: str = 'dynamo') -> None:
    """Export :class:`LogitsAtInputSize` of ``model`` to ONNX.

    Input ``input`` (N, 3, H, W) float32, normalised RGB as the model's
    ``data_preprocessor`` gives it; outputs ``logits`` and ``probs``
    (N, 1, H, W). The weights are stored inside the file.

    Args:
        model (nn.Module): The segmentor, on CPU.
        out_file (str): The ``.onnx`` file to write.
        shape (tuple[int, int]): Input (height, width).
        opset (int): ONNX opset. The dynamo exporter implements opset 18+
            and converts down to lower requests with ONNX's converter.
        dynamic_batch (bool): Leave the batch dimension free.
        dynamic_hw (bool): Leave height and width free too (dynamo only).
        exporter (str): ``'dynamo'`` (``torch.export``, PyTorch's default
            since 2.9; needs onnxscript) or ``'torchscript'`` (the legacy
            tracer, deprecated in PyTorch 2.9+, for older PyTorch).
    """
    require('onnx')
    wrapper = LogitsAtInputSize(model).eval()
    dummy = torch.randn(2 if dynamic_batch else 1, 3, *shape)
    names = dict(input_names=[ONNX_INPUT], output_names=list(ONNX_OUTPUTS))
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    if exporter == 'dynamo':
        require('onnxscript')
        dims = {}
        if dynamic_batch:
            dims[0] = torch.export.Dim('batch', min=1, max=4096)
        if dynamic_hw:
            dims[2] = dims[3] = torch.export.Dim.AUTO
        torch.onnx.export(
            wrapper, (dummy, ),
            out_file,
            dynamo=True,
            opset_version=opset,
            dynamic_shapes={'inputs': dims} if dims else None,
            external_data=False,  # one self-contained file
            verbose=False,
            **names)
    elif exporter == 'torchscript':
        if dynamic_hw:
            raise ValueError('dynamic height/width needs the dynamo exporter '
                             '(the tracer freezes the resize sizes)')
        axes = {name: {0: 'batch'} for name in (ONNX_INPUT, *ONNX_OUTPUTS)}
        kwargs = dict(opset_version=opset,
                      dynamic_axes=axes if dynamic_batch else None,
                      **names)
        if 'dynamo' in torch.onnx.export.__code__.co_varnames:
            kwargs['dynamo'] = False
        with torch.no_grad():
            torch.onnx.export(wrapper, (dummy, ), out_file, **kwargs)
    else:
        raise ValueError(f'unknown exporter {exporter!r}; '
                         "use 'dynamo' or 'torchscript'")


def onnx_opset(onnx_file: str) -> int:
    """The default-domain opset an ONNX file was written with."""
    onnx = require('onnx')
    proto = onnx.load(onnx_file, load_external_data=False)
    return next(o.version for o in proto.opset_import
                if o.domain in ('', 'ai.onnx'))


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


def onnx_parity(model: nn.Module,
                onnx_file: str,
                shape: Tuple[int, int] = (352, 352),
                batch_size: int = 2,
                seed: int = 0) -> Dict[str, float]:
    """Max |ONNX Runtime - PyTorch| on a random normalised batch, per output.

    Args:
        model (nn.Module): The segmentor the file was exported from (CPU).
        onnx_file (str): The exported file.
        shape (tuple[int, int]): Input (height, width).
        batch_size (int): Batch size of the check (2 exercises a dynamic
            batch dimension; use 1 for a fixed-batch export).
        seed (int): Seed of the random input.

    Returns:
        dict: ``logits`` and ``probs``: max absolute differences;
        ``logits_rel``: the logits' max difference over
        ``max(1, max |PyTorch logit|)``. Logits of a trained model span
        tens, and float32 rounding grows with that scale everywhere in the
        map (PyTorch float32 itself is ~1e-4 off float64 there, as far as
        ONNX Runtime is off PyTorch), so logits are judged relative to
        their range; probabilities are in [0, 1] and judged absolutely.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, 3, *shape, generator=generator)
    with torch.no_grad():
        expected = [
            out.numpy() for out in LogitsAtInputSize(model).eval()(inputs)
        ]
    got = onnx_session(onnx_file).run(list(ONNX_OUTPUTS),
                                      {ONNX_INPUT: inputs.numpy()})
    diffs = {
        name: np.abs(out - ref)
        for name, out, ref in zip(ONNX_OUTPUTS, got, expected)
    }
    return dict(
        logits=float(diffs['logits'].max()),
        logits_rel=float(diffs['logits'].max() /
                         max(1.0, float(np.abs(expected[0]).max()))),
        probs=float(diffs['probs'].max()))


# --------------------------------------------------------------------------
# The segmenter
# --------------------------------------------------------------------------
def _check_frame(frame: np.ndarray, index: int) -> None:
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
            and frame.ndim == 3 and frame.shape[2] == 3):
        description = (f'{frame.dtype} array of shape {frame.shape}'
                       if isinstance(frame, np.ndarray) else type(frame))
        raise ValueError(f'frame {index}: expected an (H, W, 3) uint8 BGR '
                         f'image, got {description}')


def logits_to_probs(logits: torch.Tensor, data_samples: list,
                    align_corners: bool) -> List[np.ndarray]:
    """One-channel logits at network size -> probabilities at frame size.

    Mirrors mmseg's ``BaseSegmentor.postprocess_result`` for a one-channel
    head (so both backends post-process identically): crop the padding the
    data preprocessor added, resize the *logits* bilinearly to
    ``ori_shape`` with the head's ``align_corners``, then sigmoid.

    Args:
        logits (Tensor): (N, 1, H, W) logits at the network input size.
        data_samples (list[SegDataSample]): Their samples (metainfo).
        align_corners (bool): The head's ``align_corners``.

    Returns:
        list[np.ndarray]: (H_i, W_i) float32 maps in [0, 1].
    """
    height, width = logits.shape[2:]
    probs = []
    for i, sample in enumerate(data_samples):
        meta = sample.metainfo
        left, right, top, bottom = meta.get(
            'img_padding_size', meta.get('padding_size', [0] * 4))
        if meta.get('flip'):
            raise ValueError('flipped views (test-time augmentation) are not '
                             'supported for inference')
        logit = logits[i:i + 1, :, top:height - bottom, left:width - right]
        logit = resize(
            logit,
            size=tuple(meta['ori_shape'][:2]),
            mode='bilinear',
            align_corners=align_corners,
            warning=False)
        probs.append(logit[0, 0].sigmoid().float().cpu().numpy())
    return probs


def load_segmentor(config: ConfigLike,
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a segmentor with mmseg's ``init_model`` and load a checkpoint
    strictly.

    ``init_model`` (no pretrained download, eval mode) loads weights
    non-strictly, so a checkpoint of another model would only log missing
    keys and give random predictions, and it fails on checkpoints without
    ``meta`` (a bare state dict). Here the model is built without weights
    and the checkpoint is loaded with ``strict=True``; ``dataset_meta``
    comes from the checkpoint, else it is the polyp classes and palette.

    Args:
        config (str | Config): Config file or object (not modified).
        checkpoint (str, optional): Weights; None keeps random weights.
        device (str): Device of the returned model.
        cfg_options (dict, optional): Config overrides.

    Returns:
        nn.Module: The segmentor in eval mode (SyncBN reverted on CPU).

    Raises:
        RuntimeError: If the checkpoint does not fit the model (lists the
            keys).
    """
    # Imported here: mmseg.apis pulls in the visualiser stack.
    from mmengine.model import revert_sync_batchnorm
    from mmengine.runner import load_checkpoint
    from mmseg.apis import init_model
    cfg = _as_config(config, cfg_options)
    model = init_model(cfg, None, device='cpu')
    model.dataset_meta = dict(PolypDataset.METAINFO)
    if checkpoint is not None:
        loaded = load_checkpoint(
            model, checkpoint, map_location='cpu', strict=True)
        meta = loaded.get('meta', {}) if isinstance(loaded, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    if device == 'cpu':
        model = revert_sync_batchnorm(model)
    return model.to(device).eval()


class PolypSegmenter:
    """Foreground probability maps for batches of BGR frames.

    Preprocessing is the config's test pipeline on decoded frames
    (:func:`frame_pipeline`) and the model's ``data_preprocessor``;
    post-processing is mmseg's (:func:`logits_to_probs`). With the PyTorch
    backend the result equals mmseg's ``inference_model`` ``seg_logits``.

    Args:
        config (str | Config): A config with a test pipeline (e.g.
            ``configs/ssformer_s_kvasir.py``); not modified.
        checkpoint (str, optional): Weights for the PyTorch backend; without
            them the model keeps its random initialisation. Not read by the
            ONNX backend, whose weights are in ``onnx_file``.
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        cfg_options (dict, optional): Config overrides (``--cfg-options``).
        backend (str): ``'pytorch'`` or ``'onnxruntime'``.
        onnx_file (str, optional): Exported model for ``'onnxruntime'``
            (``tools/export_onnx.py``).
        threshold (float, optional): Foreground threshold for
            :meth:`mask`; defaults to the head's ``threshold`` (0.5).
        fast (dict, optional): Keyword arguments of
            :func:`~ssformer_mmseg.apis.optimize_for_inference` (``{}`` for
            its defaults); the PyTorch model is optimized with them.
    """

    def __init__(self,
                 config: ConfigLike,
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 cfg_options: Optional[dict] = None,
                 backend: str = 'pytorch',
                 onnx_file: Optional[str] = None,
                 threshold: Optional[float] = None,
                 fast: Optional[dict] = None):
        cfg = _as_config(config, cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        head = _binary_head(cfg)
        self.cfg = cfg
        self.device = device
        self.backend = backend
        self.align_corners = bool(head.get('align_corners', False))
        if threshold is None:
            threshold = head.get('threshold')
        self.threshold = float(0.5 if threshold is None else threshold)
        self.pipeline = Compose(frame_pipeline(cfg))
        self.model = None
        self.session = None
        if backend == 'pytorch':
            if device.startswith('cuda') and not torch.cuda.is_available():
                raise ValueError(f'device {device!r}: this PyTorch has no '
                                 'usable CUDA; use device cpu')
            self.model = load_segmentor(cfg, checkpoint, device)
            if fast is not None:
                self.model = optimize_for_inference(self.model, **fast)
            self.data_preprocessor = self.model.data_preprocessor
        elif backend == 'onnxruntime':
            if onnx_file is None:
                raise ValueError('the onnxruntime backend needs onnx_file')
            if (cfg.model.get('test_cfg') or {}).get('mode') == 'slide':
                raise ValueError('slide inference (test_cfg.mode=slide) is '
                                 'not supported with the ONNX backend')
            self.session = onnx_session(onnx_file, device)
            # Only the preprocessor is needed: the weights are in the file.
            self.data_preprocessor = MODELS.build(
                cfg.model.data_preprocessor)
            self._onnx_hw = self.session.get_inputs()[0].shape[2:]
        else:
            raise ValueError(f'unknown backend {backend!r}; use pytorch or '
                             'onnxruntime')

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
        if self.model is not None:
            metas = [sample.metainfo for sample in data_samples]
            # What EncoderDecoder.inference runs, without its warning about
            # frames of different sizes in one batch (normal for folders).
            if (self.model.test_cfg or {}).get('mode', 'whole') == 'slide':
                return self.model.slide_inference(inputs, metas)
            return self.model.encode_decode(inputs, metas)
        expected = [d if isinstance(d, int) else None for d in self._onnx_hw]
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
        return np.where(prob > self.threshold, 255, 0).astype(np.uint8)


# --------------------------------------------------------------------------
# Drawing and writing
# --------------------------------------------------------------------------
def draw_overlay(frame: np.ndarray,
                 mask: np.ndarray,
                 color: Tuple[int, int, int] = (0, 255, 0),
                 alpha: float = 0.35,
                 thickness: Optional[int] = None) -> np.ndarray:
    """The frame with the predicted polyp tinted and outlined.

    Green is the default colour since it stands out on the reddish mucosa.

    Args:
        frame (np.ndarray): (H, W, 3) uint8 BGR frame.
        mask (np.ndarray): (H, W) mask, foreground > 0.
        color (tuple): BGR colour of tint and outline.
        alpha (float): Weight of the tint.
        thickness (int, optional): Outline width; default grows with the
            frame (1 px per 300 px of the shorter side, at least 1).

    Returns:
        np.ndarray: The drawn (H, W, 3) uint8 BGR image.
    """
    foreground = mask > 0
    out = frame.copy()
    tint = np.asarray(color, np.float32)
    out[foreground] = np.rint(frame[foreground].astype(np.float32) *
                              (1 - alpha) + tint * alpha).astype(np.uint8)
    if thickness is None:
        thickness = max(1, round(min(frame.shape[:2]) / 300))
    # RETR_LIST: holes in a prediction are outlined as well.
    contours = cv2.findContours(
        foreground.astype(np.uint8), cv2.RETR_LIST,
        cv2.CHAIN_APPROX_SIMPLE)[-2]
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color),
                     thickness)
    return out


def _write_png(path: str, image: np.ndarray) -> None:
    if not cv2.imwrite(path, image):
        raise OSError(f'{path}: cannot be written')


class PredictionWriter:
    """Writes ``masks/``, ``probs/`` and ``overlays/`` PNGs under a folder.

    * ``masks/<stem>.png``: 0/255 mask, ``prob > threshold``;
    * ``probs/<stem>.png``: 8-bit probability ``rint(255 * prob)``, the
      format ``tools/test.py --out`` writes and ``tools/eval_maps.py``
      reads;
    * ``overlays/<stem>.png``: :func:`draw_overlay` of the frame.

    Args:
        out_dir (str): Output folder.
        threshold (float): Foreground threshold.
    """

    KINDS = ('masks', 'probs', 'overlays')

    def __init__(self, out_dir: str, threshold: float):
        self.out_dir = out_dir
        self.threshold = threshold
        for kind in self.KINDS:
            os.makedirs(osp.join(out_dir, kind), exist_ok=True)

    def path(self, kind: str, stem: str) -> str:
        return osp.join(self.out_dir, kind, f'{stem}.png')

    def write(self, stem: str, frame: np.ndarray,
              prob: np.ndarray) -> np.ndarray:
        """Write the three files of one frame; returns the overlay."""
        mask = np.where(prob > self.threshold, 255, 0).astype(np.uint8)
        overlay = draw_overlay(frame, mask)
        _write_png(self.path('masks', stem), mask)
        _write_png(self.path('probs', stem), to_uint8_map(prob))
        _write_png(self.path('overlays', stem), overlay)
        return overlay


class VideoOverlayWriter:
    """An MP4 (``mp4v``) video of overlays with the input's fps and size.

    Args:
        path (str): Output ``.mp4`` file.
        fps (float): Frames per second.
        size (tuple[int, int]): (width, height).

    Raises:
        OSError: If OpenCV cannot open a writer (no MPEG-4 encoder).
    """

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path = path
        self.size = tuple(size)
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'),
                                      fps, self.size)
        if not self.writer.isOpened():
            raise OSError(f'{path}: OpenCV cannot write MPEG-4 video here')

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()

    def __enter__(self) -> 'VideoOverlayWriter':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# --------------------------------------------------------------------------
# Inputs and the driver
# --------------------------------------------------------------------------
def input_kind(path: str) -> str:
    """``'folder'``, ``'video'`` or ``'image'`` (by suffix).

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: If a file's suffix is neither an image nor a video one.
    """
    if osp.isdir(path):
        return 'folder'
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    suffix = osp.splitext(path)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        return 'video'
    if suffix in IMAGE_SUFFIXES:
        return 'image'
    raise ValueError(f'{path}: unknown input type; expected an image '
                     f'({", ".join(IMAGE_SUFFIXES)}), a video '
                     f'({", ".join(VIDEO_SUFFIXES)}) or a folder of images')


def list_images(folder: str) -> Tuple[List[str], List[str]]:
    """The images of a folder (not recursive), sorted, and the other files.

    Hidden and system files are ignored silently.

    Raises:
        PolypFileError: If the folder has no image, or two images share a
            stem (their outputs would overwrite each other).
    """
    images, others, stems = [], [], {}
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if is_system_file(name) or not osp.isfile(path):
            continue
        if osp.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
            others.append(name)
            continue
        stem = osp.splitext(name)[0]
        if stem in stems:
            raise PolypFileError(
                path, f'has the stem of {stems[stem]}; outputs are named by '
                'stem, rename one of them')
        stems[stem] = path
        images.append(path)
    if not images:
        raise PolypFileError(
            folder, f'no images ({", ".join(IMAGE_SUFFIXES)}) in this folder')
    return images, others


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _image_frames(paths: Sequence[str]) -> Iterator[Tuple[str, np.ndarray]]:
    for path in paths:
        # The checked reader: a corrupt/truncated/grey file stops the run
        # with a PolypFileError naming it.
        yield osp.splitext(osp.basename(path))[0], read_image(path)


def _video_frames(capture: 'cv2.VideoCapture',
                  stem: str) -> Iterator[Tuple[str, np.ndarray]]:
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield f'{stem}_{index:06d}', frame
        index += 1


def _segment(segmenter: PolypSegmenter,
             frames: Iterable[Tuple[str, np.ndarray]],
             batch_size: int,
             on_result: Callable[[str, np.ndarray, np.ndarray], None],
             total: int = 0,
             progress: bool = True) -> int:
    """Run ``frames`` through the segmenter in batches; the one loop for
    images and video. Returns the number of frames."""
    if batch_size < 1:
        raise ValueError(f'batch size must be >= 1, got {batch_size}')
    bar = ProgressBar(total, file=sys.stderr) if progress else None
    count = 0
    for batch in _batches(frames, batch_size):
        probs = segmenter([frame for _, frame in batch])
        for (stem, frame), prob in zip(batch, probs):
            on_result(stem, frame, prob)
        count += len(batch)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        sys.stderr.write('\n')
    return count


def run_inference(segmenter: PolypSegmenter,
                  input_path: str,
                  out_dir: str,
                  batch_size: int = 1,
                  save_frames: bool = False,
                  progress: bool = True) -> dict:
    """Segment an image, a folder of images or a video and write results.

    Images (and, with ``save_frames``, video frames named
    ``<video stem>_<index:06d>``) get ``masks/``, ``probs/`` and
    ``overlays/`` PNGs (:class:`PredictionWriter`); a video gets
    ``<video stem>_overlay.mp4`` with its fps and frame size.

    Args:
        segmenter (PolypSegmenter): The model.
        input_path (str): Image, folder or video.
        out_dir (str): Output folder.
        batch_size (int): Frames per forward pass.
        save_frames (bool): For a video, also write the per-frame PNGs.
        progress (bool): Show a progress bar / counter on stderr.

    If a frame cannot be read, nothing this run wrote is left behind.

    Returns:
        dict: ``kind``, ``frames``, ``seconds``, ``outputs`` (paths written
        besides the per-frame folders), ``skipped`` (non-image files of a
        folder).
    """
    kind = input_kind(input_path)
    start = time.perf_counter()
    summary = dict(kind=kind, outputs=[], skipped=[])
    with removed_on_error(out_dir):
        _run(segmenter, input_path, kind, out_dir, batch_size, save_frames,
             progress, summary)
    summary['seconds'] = time.perf_counter() - start
    return summary


def _run(segmenter: PolypSegmenter, input_path: str, kind: str, out_dir: str,
         batch_size: int, save_frames: bool, progress: bool,
         summary: dict) -> None:
    """The body of :func:`run_inference`; fills ``summary``."""
    if kind in ('image', 'folder'):
        if kind == 'folder':
            paths, summary['skipped'] = list_images(input_path)
        else:
            paths = [input_path]
        writer = PredictionWriter(out_dir, segmenter.threshold)
        summary['frames'] = _segment(
            segmenter, _image_frames(paths), batch_size,
            lambda stem, frame, prob: writer.write(stem, frame, prob),
            total=len(paths), progress=progress)
    else:
        summary['frames'] = _run_video(segmenter, input_path, out_dir,
                                       batch_size, save_frames, progress,
                                       summary['outputs'])


def _run_video(segmenter: PolypSegmenter, path: str, out_dir: str,
               batch_size: int, save_frames: bool, progress: bool,
               outputs: list) -> int:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise PolypFileError(path, 'cannot be opened as a video by OpenCV')
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        # Some containers report no rate; 25 fps keeps the video playable.
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
        total = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        stem = osp.splitext(osp.basename(path))[0]
        frames = _video_frames(capture, stem)
        first = next(frames, None)
        if first is None:
            raise PolypFileError(path, 'no frame could be decoded')
        height, width = first[1].shape[:2]
        video_path = osp.join(out_dir, f'{stem}_overlay.mp4')
        writer = PredictionWriter(out_dir, segmenter.threshold) \
            if save_frames else None

        def frames_checked() -> Iterator[Tuple[str, np.ndarray]]:
            yield first
            for name, frame in frames:
                if frame.shape[:2] != (height, width):
                    raise PolypFileError(
                        path, f'frame {name} is {frame.shape[1]}x'
                        f'{frame.shape[0]}, the first {width}x{height}')
                yield name, frame

        with VideoOverlayWriter(video_path, fps, (width, height)) as video:

            def on_result(name: str, frame: np.ndarray,
                          prob: np.ndarray) -> None:
                if writer is not None:
                    overlay = writer.write(name, frame, prob)
                else:
                    overlay = draw_overlay(frame, segmenter.mask(prob))
                video.write(overlay)

            count = _segment(segmenter, frames_checked(), batch_size,
                             on_result, total=total, progress=progress)
        outputs.append(video_path)
        return count
    finally:
        capture.release()


__all__ = [
    'PolypSegmenter', 'load_segmentor', 'inference_config', 'frame_pipeline',
    'config_test_pipeline', 'logits_to_probs', 'draw_overlay',
    'PredictionWriter', 'VideoOverlayWriter', 'run_inference', 'input_kind',
    'list_images', 'LogitsAtInputSize', 'export_onnx', 'onnx_parity',
    'onnx_session', 'onnx_opset', 'network_input_size', 'require',
    'VIDEO_SUFFIXES'
]
