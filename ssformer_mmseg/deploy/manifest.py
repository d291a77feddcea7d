"""``deploy.json``, the description of a deployed-model folder, in one place:
the folder's file names, the format and its version, composing it from a
config, writing it, and reading it back with every check (each entry's
type and range, file names from the backend's known set, test sets that
are our polyp datasets: all problems in one :class:`DeployedModelError`).
It is data only: reading it never executes anything.
:mod:`.artifact` checks the folder's files against it and runs the model.
"""
import hashlib
import json
import os.path as osp
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from mmengine.config import Config

from ..apis.backends import deployable_backends
from ..apis.onnx_file import ONNX_LOGITS
from ..apis.pipeline import frame_pipeline, network_input_size
from ..config import dataset_parts

METADATA_FILE = 'deploy.json'
FORMAT = 'ssformer-mmseg deployed model'
FORMAT_VERSION = 1


class _ModelFiles(Mapping):
    """Backend name -> its engine model's file(s) (the first is opened), for
    every registered backend that runs a model file, read from the registry
    when asked (so a backend registered later is included)."""

    def __getitem__(self, backend: str) -> Tuple[str, ...]:
        return deployable_backends()[backend].MODEL_FILES

    def __iter__(self) -> Iterator[str]:
        return iter(deployable_backends())

    def __len__(self) -> int:
        return len(deployable_backends())


#: The engine model's file(s) per deployable backend; the first is opened.
MODEL_FILES: Mapping[str, Tuple[str, ...]] = _ModelFiles()
#: Files a deployed folder may list besides its model files.
RECORD_FILES = ('source_config.py', )
#: Values the preprocessing entries may take.
_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
_RESIZE_BACKENDS = ('cv2', 'pillow')
_CHANNEL_ORDERS = ('RGB', 'BGR')
_REQUIRED_KEYS = ('format', 'format_version', 'backend', 'precision', 'files',
                  'input', 'preprocessing', 'output', 'classes')


class DeployedModelError(ValueError):
    """A deployed-model folder that is missing a file or inconsistent."""

    def __init__(self, path: str, problem: str):
        super().__init__(f'{path}: {problem}')
        self.path = path


def sha256(path: str) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str) -> dict:
    """What ``deploy.json`` keeps of a file: size and SHA-256."""
    return dict(bytes=osp.getsize(path), sha256=sha256(path))


def step_type(step: dict) -> str:
    """A pipeline step's type name, without its registry scope."""
    return str(step.get('type', '')).split('.')[-1]


def describe_preprocessing(cfg: Config) -> Tuple[dict, dict]:
    """``input`` and ``preprocessing`` entries of ``deploy.json``."""
    height, width = network_input_size(cfg)
    resize = next(s for s in frame_pipeline(cfg) if step_type(s) == 'Resize')
    preprocessor = cfg.model.data_preprocessor
    input_entry = dict(
        height=height,
        width=width,
        layout='NCHW',
        dtype='float32',
        channel_order='RGB' if preprocessor.get('bgr_to_rgb') else 'BGR',
        value_range='0-255, then (x - mean) / std')
    preprocessing = dict(
        resize=dict(
            width=width,
            height=height,
            keep_ratio=False,
            interpolation=resize.get('interpolation', 'bilinear'),
            backend=resize.get('backend', 'cv2')),
        mean=[float(v) for v in preprocessor.mean],
        std=[float(v) for v in preprocessor.std],
        bgr_to_rgb=bool(preprocessor.get('bgr_to_rgb', False)),
        pad_val=preprocessor.get('pad_val', 0),
        size_divisor=preprocessor.get('size_divisor'))
    return input_entry, preprocessing


def config_from_metadata(metadata: dict) -> Config:
    """A config that :class:`~ssformer_mmseg.apis.PolypSegmenter` builds the
    same preprocessing and post-processing from as from the source config
    (``tests`` check the equality)."""
    pre = metadata['preprocessing']
    size = (metadata['input']['height'], metadata['input']['width'])
    resize = pre['resize']
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='Resize',
            scale=(resize['width'], resize['height']),
            keep_ratio=False,
            interpolation=resize['interpolation'],
            backend=resize['backend']),
        dict(type='PackSegInputs'),
    ]
    preprocessor = dict(
        type='SegDataPreProcessor',
        mean=pre['mean'],
        std=pre['std'],
        bgr_to_rgb=pre['bgr_to_rgb'],
        pad_val=pre['pad_val'],
        seg_pad_val=255,
        size=size)
    if pre.get('size_divisor'):
        preprocessor['size_divisor'] = pre['size_divisor']
    output = metadata['output']
    head = dict(
        type='PLDHead',
        out_channels=1,
        threshold=output['threshold'],
        align_corners=output['align_corners'])
    return Config(
        dict(
            default_scope='mmseg',
            model=dict(
                type='EncoderDecoder',
                data_preprocessor=preprocessor,
                decode_head=head),
            test_pipeline=pipeline))


def compose_metadata(*, backend: str, precision: str, files: Dict[str, dict],
                     cfg: Config, align_corners: bool, threshold: float,
                     classes: List[str], calibration: Optional[dict],
                     quantization: Optional[dict], source: dict,
                     built: dict) -> dict:
    """The whole of ``deploy.json`` (without its accuracy report, which is
    measured on the written folder).

    Args:
        backend (str): The engine.
        precision (str): Its precision.
        files (dict): File name -> :func:`file_record`.
        cfg (Config): The source config (preprocessing, test sets).
        align_corners (bool): The model's resize of logits to frames.
        threshold (float): The mask threshold.
        classes (list[str]): The class names.
        calibration (dict, optional): The int8 calibration set's summary.
        quantization (dict, optional): How int8 was made and checked.
        source (dict): The source config and checkpoint with SHA-256.
        built (dict): When, where and with which versions.
    """
    input_entry, preprocessing = describe_preprocessing(cfg)
    return dict(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        backend=backend,
        precision=precision,
        files=files,
        input=input_entry,
        preprocessing=preprocessing,
        output=dict(
            name=ONNX_LOGITS,
            activation='sigmoid',
            resize_to_frame='bilinear',
            align_corners=align_corners,
            threshold=threshold),
        classes=classes,
        test_sets=describe_test_sets(cfg),
        calibration=calibration,
        quantization=quantization,
        source=source,
        built=built,
        accuracy=None)


#: Entries inside the top-level ones that inference reads, with their JSON
#: types (a ``files`` record's are in ``_FILE_RECORD``).
_NESTED_ENTRIES = dict(
    input=dict(height=int, width=int, channel_order=str),
    preprocessing=dict(
        resize=dict(width=int, height=int, interpolation=str, backend=str),
        mean=list,
        std=list,
        bgr_to_rgb=bool,
        pad_val=(int, float)),
    output=dict(threshold=(int, float), align_corners=bool))
_FILE_RECORD = dict(bytes=int, sha256=str)


def _entry_problems(entry, spec: dict, name: str) -> List[str]:
    """Every key of ``spec`` that ``entry`` lacks or holds with another
    type, as dotted names (``input.height``)."""
    if not isinstance(entry, dict):
        return [f'{name} is not an object']
    problems = []
    for key, kind in spec.items():
        path = f'{name}.{key}'
        if key not in entry:
            problems.append(f'{path} missing')
        elif isinstance(kind, dict):
            problems += _entry_problems(entry[key], kind, path)
        elif (not isinstance(entry[key], kind)
              or isinstance(entry[key], bool) and kind is not bool):
            problems.append(f'{path} is {entry[key]!r}')
    return problems


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value_problems(metadata: dict) -> List[str]:
    """Entries of the right type but out of range (after
    :func:`_entry_problems` found none)."""
    problems = []
    size = metadata['input']
    pre = metadata['preprocessing']
    for key in ('height', 'width'):
        if not 0 < size[key] <= 16384:
            problems.append(f'input.{key} is {size[key]}')
    if size['channel_order'] not in _CHANNEL_ORDERS:
        problems.append(f'input.channel_order is {size["channel_order"]!r}')
    resize = pre['resize']
    if resize['interpolation'] not in _INTERPOLATIONS:
        problems.append('preprocessing.resize.interpolation is '
                        f'{resize["interpolation"]!r}')
    if resize['backend'] not in _RESIZE_BACKENDS:
        problems.append(
            f'preprocessing.resize.backend is {resize["backend"]!r}')
    mean, std = pre['mean'], pre['std']
    if len(mean) not in (1, 3) or not all(map(_is_number, mean)):
        problems.append(f'preprocessing.mean is {mean!r}')
    if len(std) != len(mean) or not all(_is_number(v) and v > 0 for v in std):
        problems.append(f'preprocessing.std is {std!r}')
    divisor = pre.get('size_divisor')
    if divisor is not None and not (isinstance(
            divisor, int) and not isinstance(divisor, bool) and divisor > 0):
        problems.append(f'preprocessing.size_divisor is {divisor!r}')
    threshold = metadata['output']['threshold']
    if not 0 < threshold < 1:
        problems.append(f'output.threshold is {threshold!r}; expected a '
                        'probability between 0 and 1')
    return problems


def _file_name_problems(files: dict, backend: str) -> List[str]:
    """File names that are not bare names of the backend's known files (a
    path such as ``../x`` would be hashed and reported on)."""
    known = (MODEL_FILES.get(backend, ()) if isinstance(backend, str) else
             ()) + RECORD_FILES
    return [
        f'files.{name!r} is not a file of a {backend} deployed folder '
        f'(expected {", ".join(known)})' for name in files if name not in known
    ]


def describe_test_sets(cfg: Config) -> List[dict]:
    """The ``test_sets`` entry: each test dataset of ``cfg`` as data (its
    type and folders, no pipeline)."""
    parts = dataset_parts(cfg.test_dataloader.dataset)
    return [
        json.loads(
            json.dumps(
                {k: v
                 for k, v in dict(part).items() if k != 'pipeline'}))
        for part in parts
    ]


def _test_set_problems(test_sets) -> List[str]:
    """``test_sets`` entries that are not polyp datasets of this package."""
    from mmseg.registry import DATASETS

    from ..datasets.polyp import PolypDataset
    if not isinstance(test_sets, list) or not test_sets:
        return ['test_sets is not a list of datasets']
    problems = []
    for index, part in enumerate(test_sets):
        kind = part.get('type') if isinstance(part, dict) else None
        cls = DATASETS.get(kind) if isinstance(kind, str) else None
        if not (isinstance(cls, type) and issubclass(cls, PolypDataset)):
            problems.append(f'test_sets.{index}.type is {kind!r}; expected '
                            'a polyp dataset of ssformer-mmseg')
    return problems


def metadata_problems(metadata: dict) -> List[str]:
    """Every missing, mistyped or contradictory entry of ``deploy.json``."""
    if not isinstance(metadata, dict):
        return ['not a JSON object']
    missing = [key for key in _REQUIRED_KEYS if key not in metadata]
    if missing:
        return [f'missing entries: {", ".join(missing)}']
    problems = []
    if metadata['format'] != FORMAT:
        problems.append(f'format {metadata["format"]!r}, expected {FORMAT!r}')
    version = metadata['format_version']
    if type(version) is not int or version != FORMAT_VERSION:
        problems.append(f'format version {version!r}; this '
                        f'ssformer-mmseg reads version {FORMAT_VERSION}')
    backend = metadata['backend']
    targets = deployable_backends()
    if not isinstance(backend, str) or backend not in targets:
        problems.append(f'unknown backend {backend!r} (deployable here: '
                        f'{", ".join(targets)}; a plug-in backend needs its '
                        'package installed)')
    elif not isinstance(
            metadata['precision'],
            str) or metadata['precision'] not in targets[backend].PRECISIONS:
        problems.append(f'precision {metadata["precision"]!r} is not one of '
                        f'the {backend} backend\'s')
    for key, spec in _NESTED_ENTRIES.items():
        problems += _entry_problems(metadata[key], spec, key)
    files = metadata['files']
    if isinstance(files, dict):
        problems += _file_name_problems(files, backend)
        for name, record in files.items():
            problems += _entry_problems(record, _FILE_RECORD, f'files.{name}')
    else:
        problems.append('files is not an object')
    if 'test_sets' in metadata:
        problems += _test_set_problems(metadata['test_sets'])
    if not problems:
        problems += _value_problems(metadata)
    if not problems:
        size = [metadata['input'][k] for k in ('height', 'width')]
        resize = [
            metadata['preprocessing']['resize'][k] for k in ('height', 'width')
        ]
        if size != resize:
            problems.append(
                f'preprocessing.resize is {resize[0]}x{resize[1]} but '
                f'input is {size[0]}x{size[1]}')
    return problems


def write_metadata(folder: str, metadata: Dict) -> str:
    """Write ``deploy.json``; returns its path."""
    path = osp.join(folder, METADATA_FILE)
    with open(path, 'w') as f:
        json.dump(metadata, f, indent=2)
        f.write('\n')
    return path


def read_metadata(folder: str) -> dict:
    """Read and check ``folder``'s ``deploy.json``.

    Raises:
        DeployedModelError: Naming the folder or file and every problem.
    """
    path = osp.join(folder, METADATA_FILE)
    if not osp.isdir(folder):
        raise DeployedModelError(folder, 'no such folder')
    if not osp.isfile(path):
        raise DeployedModelError(
            path, 'missing: not a deployed-model folder (tools/deploy.py '
            'writes one)')
    try:
        with open(path) as f:
            metadata = json.load(f)
    except (OSError, ValueError) as error:
        raise DeployedModelError(path, f'unreadable ({error})') from None
    problems = metadata_problems(metadata)
    if problems:
        raise DeployedModelError(path, '; '.join(problems))
    return metadata


def is_deployed_folder(path: str) -> bool:
    """Whether ``path`` is a folder with a ``deploy.json``."""
    return osp.isfile(osp.join(path, METADATA_FILE))
