"""Inference on frames, folders and videos, and ONNX export.

* :mod:`.pipeline`: what inference takes from a config (test pipeline for
  decoded frames, input size, mmseg-compatible inference config);
* :mod:`.backends`: one object per runtime that turns a normalised batch
  into logits (PyTorch, ONNX Runtime, OpenVINO);
* :mod:`.segmenter`: :class:`PolypSegmenter`, frames in, probability maps
  out, over any backend; :mod:`.postprocess`: logits to maps and masks;
* :mod:`.inputs`, :mod:`.writers`, :mod:`.batch_inference`: reading
  images/folders/videos, writing PNGs and overlay videos, the batch loop;
* :mod:`.live_source`, :mod:`.live`, :mod:`.live_outputs`,
  :mod:`.live_session`: live sources (camera, stream, real-time file) at
  bounded latency, the newest-frame loop and its outputs;
* :mod:`.loading`: a segmentor with a strictly loaded checkpoint;
* :mod:`.onnx_export`: ONNX export and parity.

The PyTorch fast path is :mod:`ssformer_mmseg.optimize`
(``optimize_for_inference`` is re-exported here, where it was first
documented).
"""
from ..optimize import default_precision, optimize_for_inference
from ..visualization.overlays import draw_overlay
from .backends import (BACKENDS, InferenceBackend, OnnxRuntimeBackend,
                       OpenVINOBackend, PyTorchBackend, build_backend,
                       register_backend)
from .batch_inference import BatchRunner, InferenceSummary, run_inference
from .inputs import VIDEO_SUFFIXES, VideoSource, input_kind, list_images
from .live import LiveFrame, LiveSummary, run_live
from .live_session import LiveOptions, live_session
from .live_source import LiveSource, LiveSourceError
from .loading import load_segmentor
from .onnx_export import (LogitsAtInputSize, export_onnx, onnx_opset,
                          onnx_parity)
from .onnx_file import onnx_session
from .optional import require
from .pipeline import (config_test_pipeline, frame_pipeline, inference_config,
                       network_input_size)
from .postprocess import foreground_mask, logits_to_probs
from .segmenter import PolypSegmenter
from .writers import PredictionWriter, VideoOverlayWriter

__all__ = [
    'PolypSegmenter', 'load_segmentor', 'inference_config', 'frame_pipeline',
    'config_test_pipeline', 'logits_to_probs', 'foreground_mask',
    'draw_overlay', 'PredictionWriter', 'VideoOverlayWriter', 'run_inference',
    'BatchRunner', 'InferenceSummary', 'input_kind', 'list_images',
    'VideoSource', 'LogitsAtInputSize', 'export_onnx', 'onnx_parity',
    'onnx_session', 'onnx_opset', 'network_input_size', 'require',
    'VIDEO_SUFFIXES', 'InferenceBackend', 'BACKENDS', 'build_backend',
    'register_backend', 'PyTorchBackend', 'OnnxRuntimeBackend',
    'OpenVINOBackend', 'optimize_for_inference', 'default_precision',
    'LiveSource', 'LiveSourceError', 'LiveFrame', 'LiveSummary', 'run_live',
    'LiveOptions', 'live_session'
]
