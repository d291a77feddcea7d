"""Deprecated: moved to :mod:`ssformer_mmseg.ops.winograd`; the old names still
import from here, with a DeprecationWarning."""
from .._deprecation import moved_names

_MOVED = {
    'WinogradConv2d': 'ssformer_mmseg.ops.winograd.WinogradConv2d',
    'can_use_winograd': 'ssformer_mmseg.ops.winograd.can_use_winograd',
    'use_winograd': 'ssformer_mmseg.ops.winograd.use_winograd',
    'winograd_matrices': 'ssformer_mmseg.ops.winograd.winograd_matrices',
    'OUTPUT_TILE': 'ssformer_mmseg.ops.winograd.OUTPUT_TILE',
    'POINTS': 'ssformer_mmseg.ops.winograd.POINTS',
}
__all__ = list(_MOVED)
__getattr__ = moved_names(__name__, _MOVED)
