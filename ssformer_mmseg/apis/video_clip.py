"""Deprecated: the real-clip throughput harness moved to
:mod:`ssformer_mmseg.benchmark.video_clip` (an experiment, not inference
API); the old names still import from here, with a DeprecationWarning."""
from .._deprecation import moved_names

_MOVED = {
    'DATA_ROOT_ENV':
    'ssformer_mmseg.benchmark.video_clip.DATA_ROOT_ENV',
    'CLINICDB':
    'ssformer_mmseg.benchmark.video_clip.CLINICDB',
    'default_data_root':
    'ssformer_mmseg.benchmark.video_clip.default_data_root',
    'clinicdb_sequences':
    'ssformer_mmseg.benchmark.video_clip.clinicdb_sequences',
    'sequence_frames':
    'ssformer_mmseg.benchmark.video_clip.sequence_frames',
    'write_clip':
    'ssformer_mmseg.benchmark.video_clip.write_clip',
    'VideoThroughput':
    'ssformer_mmseg.benchmark.video_clip.VideoThroughput',
    'measure_video_throughput':
    'ssformer_mmseg.benchmark.video_clip.measure_video_throughput',
}
__all__ = list(_MOVED)
__getattr__ = moved_names(__name__, _MOVED)
