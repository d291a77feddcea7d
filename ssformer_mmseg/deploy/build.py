"""``tools/deploy.py``: config + checkpoint in, a self-describing deployed
model folder (:mod:`.artifact`) out, with its accuracy report.

Steps: check that the precision runs here and the config's preprocessing
can be reproduced; export ONNX and check it against PyTorch; build the
engine model (fp32/bf16: the export, as IR for OpenVINO; int8: NNCF on real
training frames, accuracy-aware where plain quantization costs more than
the bound on held-out training frames); write ``deploy.json``; reopen the
folder as a user would and score it and the fp32 PyTorch model with
PolypMetric on the test sets. If a step fails, nothing is left behind.
"""
import dataclasses
import datetime
import os
import os.path as osp
import platform
import tempfile
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import __version__
from .._deprecation import moved_names
from ..apis.backends import Calibration, deployable_backends
from ..apis.backends.nncf_int8 import validate
from ..apis.onnx_export import export_checked
from ..apis.onnx_file import ONNX_LOGITS
from ..apis.optional import installed_versions, require
from ..apis.pipeline import (check_network_size, network_input_size,
                             with_input_size)
from ..apis.segmenter import PolypSegmenter
from ..config import ConfigLike, load_config
from ..cpu_features import cpu_description
from ..evaluation.saved_maps import ground_truth
from ..messages import quiet
from ..partial_outputs import staged
from . import calibration as calib
from . import quantization
from .accuracy import ACCURACY_BOUND, compare, format_report, score_segmenter
from .artifact import DeployedModel, check_deployable
from .manifest import compose_metadata, file_record, sha256, write_metadata

REPORT_FILE = 'accuracy.md'
ACCURACY_CONTROL = ('auto', 'always', 'never')


@dataclass
class DeployOptions:
    """What :func:`deploy` builds.

    Attributes:
        config (str | Config): The training/test config.
        checkpoint (str): Its trained weights.
        backend (str): A backend that runs a model file (``'openvino'``,
            ``'onnxruntime'``: :func:`~ssformer_mmseg.apis.backends.
            deployable_backends`).
        precision (str): One of the backend's precisions (``'fp32'``,
            ``'bf16'`` (OpenVINO) or ``'int8'``).
        out_dir (str): The folder to write (new, or empty).
        cfg_options (dict, optional): Config overrides (``data_root=...``
            moves every dataset).
        calib_data (str, optional): A folder of frames to calibrate int8
            with instead of the training split.
        calib_count (int): Calibration frames.
        seed (int): Seed of the calibration and validation choice.
        accuracy_control (str): ``'auto'``: accuracy-aware quantization if
            plain int8 loses more than ``max_drop`` meanDic on held-out
            training frames; ``'always'``; ``'never'``.
        validation_count (int): Held-out training frames for that check.
        max_drop (float): The meanDic drop accuracy control allows.
        eval_config (str | Config, optional): Config whose test sets the
            report scores (default: ``config``'s).
        eval_sets (list[str], optional): Test sets of it to score.
        input_size (tuple, optional): (height, width) the deployed model
            takes instead of the config's (a speed knob: the report scores
            it against the fp32 model at the config's size).
        check_accuracy (bool): Score the test sets (the report).
        log (Callable): Progress messages.
        progress (Callable, optional): ``progress(done, total)`` of long
            loops (calibration, scoring).
    """
    config: ConfigLike
    checkpoint: str
    backend: str
    precision: str
    out_dir: str
    cfg_options: Optional[dict] = None
    calib_data: Optional[str] = None
    calib_count: int = calib.DEFAULT_CALIBRATION_COUNT
    seed: int = 0
    accuracy_control: str = 'auto'
    validation_count: int = calib.DEFAULT_VALIDATION_COUNT
    max_drop: float = ACCURACY_BOUND
    eval_config: Optional[ConfigLike] = None
    eval_sets: Optional[List[str]] = None
    input_size: Optional[Tuple[int, int]] = None
    check_accuracy: bool = True
    log: Callable[[str], None] = quiet
    progress: Optional[Callable[[int, int], None]] = None


def check_options(options: DeployOptions) -> None:
    """Everything that can be refused before anything is read or written.

    Raises:
        ValueError: Unknown backend, precision not run by it or not native
            on this CPU, bad accuracy-control mode, an input size that is
            not a multiple of 32, a non-empty out_dir.
        FileNotFoundError: A missing checkpoint or calibration folder.
        ImportError: A missing engine package (with the pip command).
    """
    targets = deployable_backends()
    if options.backend not in targets:
        raise ValueError(f'cannot deploy to {options.backend!r}; use one of '
                         f'{", ".join(targets)}')
    if options.accuracy_control not in ACCURACY_CONTROL:
        raise ValueError(f'accuracy_control must be one of '
                         f'{", ".join(ACCURACY_CONTROL)}')
    if options.input_size is not None:
        check_network_size(options.input_size)
    engine = targets[options.backend]
    engine.require()
    engine.check_precision(options.precision, 'cpu')
    engine.require(options.precision)
    for module in ('onnx', 'onnxscript'):
        require(module)
    if not osp.isfile(options.checkpoint):
        raise FileNotFoundError(f'{options.checkpoint}: checkpoint not found')
    if options.calib_data is not None and not osp.isdir(options.calib_data):
        raise FileNotFoundError(f'{options.calib_data}: calibration folder '
                                'not found')
    if osp.isdir(options.out_dir) and os.listdir(options.out_dir):
        raise ValueError(f'{options.out_dir}: exists and is not empty; '
                         'deploy into a new folder')


def build_versions(backend: str, precision: str) -> dict:
    """Versions of what built the model (for ``deploy.json``): torch and
    the modules the backend needs (at that precision)."""
    engine = deployable_backends()[backend]
    modules = [
        'torch', *engine.REQUIRES
    ] + list(engine.QUANTIZATION_REQUIRES if precision == 'int8' else ())
    return dict(ssformer_mmseg=__version__, **installed_versions(modules))


def _validation_drop(reference: PolypSegmenter, engine_model,
                     pairs: Sequence[tuple]) -> dict:
    """meanDic of the fp32 model and of the quantized one on held-out
    training frames (at the network size), and the drop."""

    def reference_model(inputs):
        with torch.no_grad():
            logits = reference.model(torch.from_numpy(inputs), mode='tensor')
            logits = torch.nn.functional.interpolate(
                logits,
                size=inputs.shape[2:],
                mode='bilinear',
                align_corners=reference.align_corners)
        return {ONNX_LOGITS: logits.numpy()}

    float_score, _ = validate(reference_model, pairs)
    int8_score, _ = validate(engine_model, pairs)
    return dict(
        images=len(pairs),
        fp32_meanDic=float_score,
        int8_meanDic=int8_score,
        drop=float_score - int8_score)


class _Deployment:
    """The state of one :func:`deploy` run."""

    def __init__(self, options: DeployOptions, work_dir: str):
        self.options = options
        self.work_dir = work_dir
        #: The config as trained, and as deployed (another input size).
        self.trained_cfg = load_config(options.config, options.cfg_options)
        self.cfg = self.trained_cfg if options.input_size is None else \
            with_input_size(self.trained_cfg, options.input_size)
        check_deployable(self.cfg)
        #: The report's reference: the fp32 model at the trained size.
        self.reference = PolypSegmenter(self.trained_cfg, options.checkpoint)
        #: The fp32 model at the deployed size: it preprocesses calibration
        #: and held-out frames, and int8 is checked against it.
        self.at_deployed_size = self.reference if options.input_size is None \
            else PolypSegmenter(self.cfg, options.checkpoint)
        self.onnx_file = osp.join(work_dir, 'model.onnx')
        self.calibration: Optional[calib.FrameSet] = None
        self.quantization: Optional[dict] = None
        self.check_data()

    def check_data(self) -> None:
        """Build every sample list the run will read (the training split
        for calibration and the held-out int8 check, the test sets for the
        accuracy report) before anything expensive runs, so a missing
        folder or split file stops the run at once, named."""
        o = self.options
        if o.precision == 'int8' and (o.calib_data is None
                                      or o.accuracy_control != 'never'):
            calib.training_frames(self.cfg, 1, o.seed)
        if o.calib_data is not None:
            calib.folder_frames(o.calib_data, 1, o.seed)
        if o.check_accuracy:
            eval_cfg = self.cfg if o.eval_config is None else load_config(
                o.eval_config, o.cfg_options)
            ground_truth(eval_cfg, o.eval_sets)

    def export(self) -> None:
        size = network_input_size(self.cfg)
        self.options.log(f'exporting ONNX at {size[0]}x{size[1]}')
        report = export_checked(
            self.reference.model, self.onnx_file, shape=size)
        if not report.ok:
            raise RuntimeError(
                f'the ONNX export differs from PyTorch by {report.worst:.2e} '
                f'(more than {report.tolerance:.0e}); not deploying it')

    def calibration_inputs(self) -> List[np.ndarray]:
        o = self.options
        self.calibration = calib.folder_frames(
            o.calib_data, o.calib_count, o.seed) if o.calib_data else \
            calib.training_frames(self.cfg, o.calib_count, o.seed)
        o.log(f'calibrating on {len(self.calibration.images)} frames of the '
              f'{self.calibration.source} ({self.calibration.description})')
        return calib.network_inputs(self.calibration,
                                    self.at_deployed_size.preprocess,
                                    o.progress)

    def validation_pairs(self) -> List[tuple]:
        o = self.options
        frames = calib.training_frames(
            self.cfg,
            o.validation_count,
            o.seed + 1,
            exclude=self.calibration.images if self.calibration else ())
        o.log(f'checking int8 on {len(frames.images)} held-out training '
              'frames')
        inputs = calib.network_inputs(frames, self.at_deployed_size.preprocess)
        size = inputs[0].shape[2:]
        return quantization.validation_pairs(inputs, calib.masks(frames), size)

    def int8_calibration(self) -> Calibration:
        """The int8 calibration inputs, with the held-out check unless
        accuracy control is off."""
        o = self.options
        inputs = self.calibration_inputs()
        if o.accuracy_control == 'never':
            return Calibration(inputs, log=o.log)
        pairs: List[tuple] = []

        def validation() -> List[tuple]:
            if not pairs:
                pairs.extend(self.validation_pairs())
            return pairs

        def check(engine_model) -> dict:
            result = _validation_drop(self.at_deployed_size, engine_model,
                                      validation())
            o.log(f'held-out meanDic fp32 {result["fp32_meanDic"]:.4f}, int8 '
                  f'{result["int8_meanDic"]:.4f} '
                  f'(drop {result["drop"]:+.4f})')
            return result

        return Calibration(inputs, check, validation, o.accuracy_control,
                           o.max_drop, o.log)

    def write_engine_model(self) -> List[str]:
        """The engine's model file(s) in out_dir; returns their names."""
        o = self.options
        written = deployable_backends()[o.backend].write_model(
            self.onnx_file, o.out_dir, o.precision,
            self.int8_calibration() if o.precision == 'int8' else None)
        self.quantization = written.quantization
        return written.files

    def metadata(self, model_files: List[str]) -> dict:
        o = self.options
        config_file = o.config if isinstance(o.config, str) else \
            self.cfg.filename
        return compose_metadata(
            backend=o.backend,
            precision=o.precision,
            files={
                name: file_record(osp.join(o.out_dir, name))
                for name in model_files + ['source_config.py']
            },
            cfg=self.cfg,
            align_corners=self.reference.align_corners,
            threshold=self.reference.threshold,
            classes=list(self.reference.model.dataset_meta['classes']),
            calibration=self.calibration.summary()
            if self.calibration else None,
            quantization=self.quantization,
            source=dict(
                config=config_file,
                config_sha256=sha256(config_file)
                if config_file and osp.isfile(config_file) else None,
                cfg_options=o.cfg_options or {},
                checkpoint=o.checkpoint,
                checkpoint_sha256=sha256(o.checkpoint),
                trained_input_size=list(network_input_size(self.trained_cfg))),
            built=dict(
                date=datetime.datetime.now(
                    datetime.timezone.utc).isoformat(timespec='seconds'),
                machine=cpu_description(),
                python=platform.python_version(),
                versions=build_versions(o.backend, o.precision)))

    def accuracy(self, deployed: DeployedModel) -> dict:
        o = self.options
        eval_cfg = self.cfg if o.eval_config is None else load_config(
            o.eval_config, o.cfg_options)
        samples = ground_truth(eval_cfg, o.eval_sets)
        engine = deployed.segmenter()
        o.log(f'scoring {o.backend} {o.precision} and PyTorch fp32 on '
              f'{len(samples)} test images')
        report = compare(
            score_segmenter(engine, samples, o.progress),
            score_segmenter(self.reference, samples, o.progress))
        report['measured_on'] = cpu_description()
        report['engine_input_size'] = list(network_input_size(self.cfg))
        report['reference_input_size'] = list(
            network_input_size(self.trained_cfg))
        return report


def deploy(options: DeployOptions) -> DeployedModel:
    """Build the deployed-model folder ``options.out_dir``.

    Returns:
        DeployedModel: The folder, reopened and checked; its metadata holds
        the accuracy report (also in ``accuracy.md``).

    Raises:
        ValueError, FileNotFoundError, ImportError: See
            :func:`check_options`; nothing is written then.
        RuntimeError: If the ONNX export does not match PyTorch.
    """
    check_options(options)
    final_dir = options.out_dir
    # Built in a staging folder beside out_dir and moved into place only
    # when every step (the accuracy report included) has passed.
    with staged(final_dir) as build_dir, \
            tempfile.TemporaryDirectory() as work_dir:
        options = dataclasses.replace(options, out_dir=build_dir)
        run = _Deployment(options, work_dir)
        run.export()
        model_files = run.write_engine_model()
        run.cfg.dump(osp.join(options.out_dir, 'source_config.py'))
        metadata = run.metadata(model_files)
        write_metadata(options.out_dir, metadata)
        deployed = DeployedModel.load(options.out_dir)  # as a user opens it
        if options.check_accuracy:
            metadata['accuracy'] = run.accuracy(deployed)
            with open(osp.join(options.out_dir, REPORT_FILE), 'w') as f:
                f.write(
                    format_report(metadata['accuracy'],
                                  f'{options.backend} {options.precision}') +
                    '\n')
            write_metadata(options.out_dir, metadata)
    return DeployedModel.load(final_dir)


# Renamed: benchmark.engines.engine_versions lists every engine's version.
__getattr__ = moved_names(
    __name__,
    {'engine_versions': 'ssformer_mmseg.deploy.build.build_versions'})
