"""Deprecated: moved to :mod:`ssformer_mmseg.optimize` (and the head fold to
:mod:`ssformer_mmseg.models.decode_heads.folded_pld_head`); the old names
still import from here, with a DeprecationWarning."""
from .._deprecation import moved_names

_MOVED = {
    'optimize_for_inference':
    'ssformer_mmseg.optimize.fast_inference.optimize_for_inference',
    'default_precision':
    'ssformer_mmseg.optimize.fast_inference.default_precision',
    'PRECISIONS': 'ssformer_mmseg.optimize.fast_inference.PRECISIONS',
    'SDPAEfficientMultiheadAttention':
    'ssformer_mmseg.optimize.mit_modules.SDPAEfficientMultiheadAttention',
    'TokenMixFFN': 'ssformer_mmseg.optimize.mit_modules.TokenMixFFN',
    'FoldedPLDHead':
    'ssformer_mmseg.models.decode_heads.folded_pld_head.FoldedPLDHead',
    'add_fast_inference_arguments':
    'ssformer_mmseg.cli.add_fast_inference_arguments',
    'fast_inference_options': 'ssformer_mmseg.cli.fast_inference_options',
}
__all__ = list(_MOVED)
__getattr__ = moved_names(__name__, _MOVED)
