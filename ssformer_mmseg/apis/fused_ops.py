"""Deprecated: moved to :mod:`ssformer_mmseg.ops.fused_ops` (the CPU checks to
:mod:`ssformer_mmseg.cpu_features`); the old names still import from here,
with a DeprecationWarning."""
from .._deprecation import moved_names

_MOVED = {
    'linear': 'ssformer_mmseg.ops.fused_ops.linear',
    'conv2d': 'ssformer_mmseg.ops.fused_ops.conv2d',
    'onednn_bf16_supported':
    'ssformer_mmseg.cpu_features.onednn_bf16_supported',
    'bf16_emulated': 'ssformer_mmseg.cpu_features.bf16_emulated',
    'EMULATED_BF16': 'ssformer_mmseg.cpu_features.EMULATED_BF16',
}
__all__ = list(_MOVED)
__getattr__ = moved_names(__name__, _MOVED)
