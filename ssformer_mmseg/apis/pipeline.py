"""What inference takes from a config: the test pipeline for decoded frames,
the network input size, the binary head, and a config mmseg's own
inference APIs accept.

Frames arrive decoded (BGR arrays), so the config's test pipeline is used
with its file loader replaced by mmseg's ``LoadImageFromNDArray`` and its
annotation loader dropped; every other step (for our configs: the resize to
352x352 and packing) is kept as configured.
"""
import copy
from typing import Optional, Tuple

from mmengine.config import Config

from ..config import ConfigLike, dataset_parts, load_config

# Transforms that read the frame; replaced, since frames arrive decoded.
_LOADERS = ('LoadImageFromFile', 'LoadPolypImage', 'LoadImageFromNDArray',
            'InferencerLoader')


def _type_name(transform: dict) -> str:
    # Scoped names ('mmseg.Resize') compare by their last part.
    return str(transform.get('type', '')).split('.')[-1]


def _dataset_pipeline(dataset: dict) -> Optional[list]:
    """A dataset config's pipeline; a ConcatDataset's parts must agree."""
    pipelines = [
        list(part['pipeline']) for part in dataset_parts(dataset)
        if part.get('pipeline') is not None
    ]
    if not pipelines:
        return None
    if any(p != pipelines[0] for p in pipelines[1:]):
        raise ValueError(
            'the test datasets of this config use different pipelines; '
            'set the one to infer with as test_pipeline')
    return pipelines[0]


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
        raise ValueError('the test pipeline must start with an image loader '
                         f'({", ".join(_LOADERS)}); it starts with '
                         f'{pipeline[0] if pipeline else "nothing"}')
    steps = [copy.deepcopy(t) for t in pipeline[1:]]
    if any(_type_name(t) == 'TestTimeAug' for t in steps):
        raise ValueError('test-time augmentation pipelines are not supported '
                         'for inference; use the plain test pipeline')
    steps = [t for t in steps if 'Annotation' not in _type_name(t)]
    first = {
        k: v
        for k, v in pipeline[0].items() if k in ('to_float32', 'backend_args')
    }
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
    cfg = load_config(config, cfg_options)
    pipeline = config_test_pipeline(cfg)
    cfg.test_pipeline = _without_annotations(pipeline, 'LoadPolypImage')
    dataset = cfg.test_dataloader.get('dataset') if cfg.get(
        'test_dataloader') is not None else None
    dataset = dataset_parts(dataset)[0] if dataset is not None else {}
    dataset = copy.deepcopy(dict(dataset))
    dataset['pipeline'] = _without_annotations(pipeline, 'LoadImageFromFile')
    loader = dict(cfg.get('test_dataloader') or {})
    loader['dataset'] = dataset
    cfg.test_dataloader = loader
    if cfg.model.get('backbone') is not None:
        cfg.model.backbone.init_cfg = None
    return cfg


def binary_head(cfg: Config) -> dict:
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


#: The encoder's total stride: input sides must be multiples of it.
INPUT_SIZE_MULTIPLE = 32


def check_network_size(size: Tuple[int, int]) -> Tuple[int, int]:
    """``size`` (height, width) as ints, if each side is a positive multiple
    of :data:`INPUT_SIZE_MULTIPLE`.

    Raises:
        ValueError: Otherwise, naming the size.
    """
    height, width = (int(side) for side in size)
    if min(height, width) <= 0 or height % INPUT_SIZE_MULTIPLE or \
            width % INPUT_SIZE_MULTIPLE:
        raise ValueError(
            f'input size {height}x{width}: each side must be a positive '
            f'multiple of {INPUT_SIZE_MULTIPLE} (the encoder\'s stride)')
    return height, width


def with_input_size(cfg: Config, size: Tuple[int, int]) -> Config:
    """A copy of ``cfg`` whose test pipelines resize every frame to
    ``size`` (height, width) instead: the network input size is a speed
    knob (smaller is faster, at an accuracy cost that
    ``tools/deploy.py --input-size`` measures).

    Raises:
        ValueError: If a side is not a positive multiple of
            :data:`INPUT_SIZE_MULTIPLE`, or the config has no fixed-size
            ``Resize`` to change.
    """
    height, width = check_network_size(size)
    network_input_size(cfg)  # a fixed-size Resize, or a clear error
    cfg = copy.deepcopy(cfg)

    def resized(pipeline) -> list:
        return [
            dict(step, scale=(width, height)) if _type_name(step) == 'Resize'
            and not step.get('keep_ratio', False) else step
            for step in pipeline
        ]

    if cfg.get('test_pipeline') is not None:
        cfg.test_pipeline = resized(cfg.test_pipeline)
    if cfg.get('test_dataloader') is not None:
        for part in dataset_parts(cfg.test_dataloader.get('dataset', {})):
            if part.get('pipeline') is not None:
                part['pipeline'] = resized(part['pipeline'])
    return cfg
