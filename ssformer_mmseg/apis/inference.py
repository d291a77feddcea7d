"""Deprecated: this module was split into the modules of
:mod:`ssformer_mmseg.apis` (see ``docs/architecture.md``). Its names still
import from here, with a DeprecationWarning; import them from
:mod:`ssformer_mmseg.apis` instead."""
from .._deprecation import moved_names

_MOVED = {
    'PolypSegmenter': 'ssformer_mmseg.apis.segmenter.PolypSegmenter',
    'load_segmentor': 'ssformer_mmseg.apis.loading.load_segmentor',
    'inference_config': 'ssformer_mmseg.apis.pipeline.inference_config',
    'frame_pipeline': 'ssformer_mmseg.apis.pipeline.frame_pipeline',
    'config_test_pipeline':
    'ssformer_mmseg.apis.pipeline.config_test_pipeline',
    'logits_to_probs': 'ssformer_mmseg.apis.postprocess.logits_to_probs',
    'draw_overlay': 'ssformer_mmseg.visualization.overlays.draw_overlay',
    'PredictionWriter': 'ssformer_mmseg.apis.writers.PredictionWriter',
    'VideoOverlayWriter': 'ssformer_mmseg.apis.writers.VideoOverlayWriter',
    'run_inference': 'ssformer_mmseg.apis.batch_inference.run_inference',
    'input_kind': 'ssformer_mmseg.apis.inputs.input_kind',
    'list_images': 'ssformer_mmseg.apis.inputs.list_images',
    'LogitsAtInputSize': 'ssformer_mmseg.apis.onnx_export.LogitsAtInputSize',
    'export_onnx': 'ssformer_mmseg.apis.onnx_export.export_onnx',
    'onnx_parity': 'ssformer_mmseg.apis.onnx_export.onnx_parity',
    'onnx_session': 'ssformer_mmseg.apis.onnx_file.onnx_session',
    'onnx_opset': 'ssformer_mmseg.apis.onnx_export.onnx_opset',
    'network_input_size': 'ssformer_mmseg.apis.pipeline.network_input_size',
    'require': 'ssformer_mmseg.apis.optional.require',
    'VIDEO_SUFFIXES': 'ssformer_mmseg.apis.inputs.VIDEO_SUFFIXES',
    'ONNX_INPUT': 'ssformer_mmseg.apis.onnx_file.ONNX_INPUT',
    'ONNX_OUTPUTS': 'ssformer_mmseg.apis.onnx_file.ONNX_OUTPUTS',
    'ConfigLike': 'ssformer_mmseg.config.ConfigLike',
}
__all__ = list(_MOVED)
__getattr__ = moved_names(__name__, _MOVED)
