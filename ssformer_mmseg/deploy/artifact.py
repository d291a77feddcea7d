"""The deployed-model folder: an engine model and ``deploy.json``, which says
everything inference needs, so no training config or checkpoint is read.

``deploy.json`` holds the input size, normalisation (mean, std, channel
order), threshold, ``align_corners``, class names, backend and precision,
the calibration set, the source config and checkpoint with their SHA-256,
a SHA-256 and size per model file, the test sets (as data: dataset types
and folders) and the accuracy report. Loading checks every one of them that
can be checked (every entry's type and range, file names from the known set
of the backend, files present and unchanged, the model's input size, int8
ops present exactly when the precision is int8) and names what is wrong.

A deployed folder is data: nothing in it is executed. ``source_config.py``
is kept as a record of what was deployed; no tool runs it (mmengine would
execute it as Python), and scoring reads the test sets from ``deploy.json``.
``deploy.json`` itself (file names, format version, composing, writing,
reading and its checks) is :mod:`.manifest`; this module checks the folder's
files against it and runs the model.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Tuple, Type

from mmengine.config import Config

from .._deprecation import moved_names
from ..apis.backends import InferenceBackend, backend_class
from ..apis.pipeline import frame_pipeline, network_input_size
# The deploy.json names, re-exported: they were defined here.
from .manifest import (FORMAT, FORMAT_VERSION, METADATA_FILE, MODEL_FILES,
                       RECORD_FILES, DeployedModelError, config_from_metadata,
                       describe_preprocessing, describe_test_sets, file_record,
                       is_deployed_folder, read_metadata, sha256, step_type,
                       write_metadata)

__all__ = [
    'DeployedModel', 'check_deployable', 'FORMAT', 'FORMAT_VERSION',
    'METADATA_FILE', 'MODEL_FILES', 'RECORD_FILES', 'DeployedModelError',
    'config_from_metadata', 'describe_preprocessing', 'describe_test_sets',
    'file_record', 'is_deployed_folder', 'sha256', 'write_metadata'
]

#: Test-pipeline steps a deployed model reproduces from its metadata.
_DEPLOYABLE_STEPS = ('Resize', 'PackSegInputs')


def check_deployable(cfg: Config) -> None:
    """Raise a ValueError unless the config's test pipeline is one a
    deployed model reproduces: load, a fixed-size ``Resize``, pack.

    Raises:
        ValueError: Naming the steps that are not reproduced.
    """
    network_input_size(cfg)  # a fixed-size Resize, or a clear error
    others = [
        step_type(step) for step in frame_pipeline(cfg)[1:]
        if step_type(step) not in _DEPLOYABLE_STEPS
    ]
    resize = [s for s in frame_pipeline(cfg) if step_type(s) == 'Resize']
    if others or len(resize) != 1:
        raise ValueError(
            'a deployed model reproduces a test pipeline of one fixed-size '
            'Resize; this config\'s also has '
            f'{", ".join(others) or "several Resize steps"}')
    if (cfg.model.get('test_cfg') or {}).get('mode', 'whole') != 'whole':
        raise ValueError('a deployed model runs whole-image inference; this '
                         'config tests with test_cfg.mode='
                         f'{cfg.model.test_cfg.mode}')


@dataclass
class DeployedModel:
    """A checked deployed-model folder.

    Attributes:
        folder (str): The folder.
        metadata (dict): ``deploy.json``.
    """
    folder: str
    metadata: dict

    @property
    def backend(self) -> str:
        return self.metadata['backend']

    @property
    def precision(self) -> str:
        return self.metadata['precision']

    @property
    def engine(self) -> Type[InferenceBackend]:
        """The backend class that runs the folder."""
        return backend_class(self.backend)

    @property
    def model_file(self) -> str:
        return osp.join(self.folder, self.engine.MODEL_FILES[0])

    @property
    def input_size(self) -> Tuple[int, int]:
        return (self.metadata['input']['height'],
                self.metadata['input']['width'])

    def config(self) -> Config:
        """The inference config rebuilt from the metadata."""
        return config_from_metadata(self.metadata)

    def test_sets_config(self) -> Optional[Config]:
        """A config whose test dataloader holds the test sets ``deploy.json``
        describes (as data; nothing is executed), or None if it describes
        none (folders deployed before it did)."""
        test_sets = self.metadata.get('test_sets')
        if test_sets is None:
            return None
        # A top-level data_root, so that --cfg-options data_root=DIR moves
        # the sets that were on the deployment machine's one.
        roots = [part.get('data_root') for part in test_sets]
        return Config(
            dict(
                default_scope='mmseg',
                data_root=roots[0],
                test_dataloader=dict(
                    dataset=dict(type='ConcatDataset', datasets=test_sets))),
            filename=osp.join(self.folder, METADATA_FILE))

    def segmenter(self,
                  device: str = 'cpu',
                  throughput: bool = False,
                  threshold: Optional[float] = None):
        """A :class:`~ssformer_mmseg.apis.PolypSegmenter` on the engine.

        Raises:
            ValueError: If the precision does not run on ``device`` here.
        """
        from ..apis.segmenter import PolypSegmenter
        segmenter = PolypSegmenter(
            self.config(),
            backend=self.backend,
            model_file=self.model_file,
            device=device,
            precision=self.precision,
            threshold=threshold,
            throughput=throughput)
        return segmenter

    @classmethod
    def load(cls, folder: str) -> 'DeployedModel':
        """Read and check ``folder`` (see the module doc).

        Raises:
            DeployedModelError: Naming the missing, changed or inconsistent
                file or entry.
        """
        metadata = read_metadata(folder)
        model = cls(folder, metadata)
        model._check_files()
        return model

    def _check_files(self) -> None:
        expected = self.engine.MODEL_FILES
        recorded = self.metadata['files']
        for name in expected:
            if name not in recorded:
                raise DeployedModelError(
                    osp.join(self.folder, METADATA_FILE),
                    f'lists no {name}, which the {self.backend} model needs')
        for name, record in recorded.items():
            path = osp.join(self.folder, name)
            if not osp.isfile(path):
                raise DeployedModelError(path, 'missing')
            if osp.getsize(path) != record['bytes'] or sha256(
                    path) != record['sha256']:
                raise DeployedModelError(
                    path, f'changed since it was deployed (size or SHA-256 '
                    f'differs from {METADATA_FILE})')
        quantized, input_hw = self.engine.inspect_model_file(self.model_file)
        if quantized != (self.precision == 'int8'):
            raise DeployedModelError(
                self.model_file,
                f'{"holds" if quantized else "holds no"} int8 ops but '
                f'{METADATA_FILE} says precision {self.precision}')
        if input_hw != list(self.input_size):
            shown = 'x'.join(str(d) if d else '?' for d in input_hw)
            raise DeployedModelError(
                self.model_file, f'the model takes {shown} inputs but '
                f'{METADATA_FILE} says '
                f'{self.input_size[0]}x{self.input_size[1]}')


# Renamed: apis.inference_config makes a config from a config.
__getattr__ = moved_names(__name__, {
    'inference_config':
    'ssformer_mmseg.deploy.manifest.config_from_metadata',
})
