"""Inference on frames, folders and videos (PyTorch or ONNX Runtime), ONNX
export (:mod:`ssformer_mmseg.apis.inference`) and the fast inference switch
(:mod:`ssformer_mmseg.apis.optimize`)."""
from .inference import (VIDEO_SUFFIXES, LogitsAtInputSize, PolypSegmenter,
                        PredictionWriter, VideoOverlayWriter, draw_overlay,
                        export_onnx, frame_pipeline, inference_config,
                        input_kind, list_images, load_segmentor,
                        logits_to_probs,
                        network_input_size, onnx_opset, onnx_parity,
                        onnx_session, require, run_inference,
                        config_test_pipeline)
from .optimize import default_precision, optimize_for_inference

__all__ = [
    'PolypSegmenter', 'load_segmentor', 'inference_config', 'frame_pipeline',
    'config_test_pipeline', 'logits_to_probs', 'draw_overlay',
    'PredictionWriter', 'VideoOverlayWriter', 'run_inference', 'input_kind',
    'list_images', 'LogitsAtInputSize', 'export_onnx', 'onnx_parity',
    'onnx_session', 'onnx_opset', 'network_input_size', 'require',
    'VIDEO_SUFFIXES', 'optimize_for_inference', 'default_precision'
]
