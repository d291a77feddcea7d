"""Deployment on inference engines: a self-describing model folder
(:mod:`.artifact`; its ``deploy.json``: :mod:`.manifest`), built by
:func:`~.build.deploy` (``tools/deploy.py``) from a config and a checkpoint,
calibrated on real frames (:mod:`.calibration`, :mod:`.quantization`) and
scored against the PyTorch model (:mod:`.accuracy`).

Imported only by the deployment tools: the engines (OpenVINO, ONNX Runtime,
NNCF) are optional extras, loaded when used.
"""
from .accuracy import ACCURACY_BOUND, compare, format_report, score_segmenter
from .artifact import DeployedModel
from .build import DeployOptions, deploy
from .calibration import FrameSet, folder_frames, training_frames
from .manifest import METADATA_FILE, DeployedModelError, is_deployed_folder

__all__ = [
    'deploy', 'DeployOptions', 'DeployedModel', 'DeployedModelError',
    'METADATA_FILE', 'is_deployed_folder', 'ACCURACY_BOUND', 'compare',
    'format_report', 'score_segmenter', 'FrameSet', 'folder_frames',
    'training_frames'
]
