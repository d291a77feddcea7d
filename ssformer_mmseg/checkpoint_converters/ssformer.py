"""Official SSFormer <-> this package's ``EncoderDecoder`` (MiT backbone +
:class:`~ssformer_mmseg.PLDHead`)."""
from typing import Any, List, Mapping, Tuple

from .mit import mit_to_mmseg_keys, mmseg_to_mit_keys
from .state_dicts import (KeySource, StateDict, is_profiler_key,
                          unwrap_state_dict)

# The official head builds ``linear_fuse`` (a 4*C -> C ConvModule) but its
# forward never calls it, so its weights cannot affect any output.
_UNUSED_OFFICIAL_HEAD_PREFIX = 'decode_head.linear_fuse.'
# The official head hard-codes four stages (linear_c1-4, linear_fuse34/2/1);
# a fifth stage, or a missing one, shows up as unexpected or missing keys.
_NUM_HEAD_STAGES = 4
# Names of the official fusion modules, indexed like ``PLDHead.fuse_convs``:
# fuse_convs[i] merges the running feature with stage i.
_OFFICIAL_FUSE_NAMES = ('linear_fuse1', 'linear_fuse2', 'linear_fuse34')
_CONV_MODULE_SUFFIXES = ('conv.weight', 'bn.weight', 'bn.bias',
                         'bn.running_mean', 'bn.running_var',
                         'bn.num_batches_tracked')


def convert_ssformer(
        state_dict: Mapping[str, Any]) -> Tuple[StateDict, List[str]]:
    """Convert an official SSFormer checkpoint to this package's layout.

    The result loads with ``strict=True`` into the ``EncoderDecoder`` built
    from ``configs/_base_/models/ssformer_{s,l}.py`` (MiT backbone and
    :class:`~ssformer_mmseg.PLDHead`).

    Args:
        state_dict (Mapping): Official SSFormer weights
            (``backbone.patch_embed1...``, ``decode_head.linear_c1...``),
            possibly wrapped (see :func:`unwrap_state_dict`). The unused
            ``decode_head.linear_fuse.*`` and profiler buffers
            (``*.total_ops``, ``*.total_params``) are dropped.

    Returns:
        tuple[dict[str, Tensor], list[str]]: The converted state dict and
        the source keys that were dropped.

    Raises:
        CheckpointConversionError: On a missing key, a key that is neither
            converted nor droppable, or a tensor of the wrong shape.
    """
    state_dict = unwrap_state_dict(state_dict)
    dropped = [
        k for k in state_dict
        if is_profiler_key(k) or k.startswith(_UNUSED_OFFICIAL_HEAD_PREFIX)
    ]
    source = KeySource(state_dict, dropped)
    converted = mit_to_mmseg_keys(source, 'backbone.', out_prefix='backbone.')
    # In the order of PLDHead.state_dict(), whose classifier comes first.
    converted['decode_head.conv_seg.weight'] = source.take(
        'decode_head.linear_pred.weight', ndim=4)
    converted['decode_head.conv_seg.bias'] = source.take(
        'decode_head.linear_pred.bias', ndim=1)
    for stage in range(1, _NUM_HEAD_STAGES + 1):
        for src, dst in (('0', '0'), ('2', '1')):
            converted[f'decode_head.local_emphasis.{stage - 1}.{dst}.'
                      'conv.weight'] = source.take(
                          f'decode_head.linear_c{stage}.proj.{src}.weight',
                          ndim=4)
    for idx, name in enumerate(_OFFICIAL_FUSE_NAMES):
        for suffix in _CONV_MODULE_SUFFIXES:
            converted[f'decode_head.fuse_convs.{idx}.{suffix}'] = source.take(
                f'decode_head.{name}.{suffix}')
    source.check()
    return converted, dropped


def ssformer_to_official(state_dict: Mapping[str, Any]) -> StateDict:
    """Convert this package's SSFormer weights to the official layout.

    The inverse of :func:`convert_ssformer`, up to the dropped keys: the
    unused ``decode_head.linear_fuse`` is not created, so load the result
    into the official model with ``strict=False`` (its ``linear_fuse`` then
    keeps its initial weights, which its forward never uses).

    Args:
        state_dict (Mapping): Weights of the SSFormer ``EncoderDecoder``
            (``backbone.layers...``, ``decode_head.local_emphasis...``),
            possibly wrapped as a mmengine checkpoint.

    Returns:
        dict[str, Tensor]: Weights in the official SSFormer layout.

    Raises:
        CheckpointConversionError: On a missing or unexpected key, or a
            tensor of the wrong shape.
    """
    state_dict = unwrap_state_dict(state_dict)
    source = KeySource(state_dict, ())
    converted = mmseg_to_mit_keys(source, 'backbone.', out_prefix='backbone.')
    for stage in range(_NUM_HEAD_STAGES):
        for src, dst in (('0', '0'), ('1', '2')):
            converted[f'decode_head.linear_c{stage + 1}.proj.{dst}.'
                      'weight'] = source.take(
                          f'decode_head.local_emphasis.{stage}.{src}.'
                          'conv.weight',
                          ndim=4)
    for idx, name in enumerate(_OFFICIAL_FUSE_NAMES):
        for suffix in _CONV_MODULE_SUFFIXES:
            converted[f'decode_head.{name}.{suffix}'] = source.take(
                f'decode_head.fuse_convs.{idx}.{suffix}')
    converted['decode_head.linear_pred.weight'] = source.take(
        'decode_head.conv_seg.weight', ndim=4)
    converted['decode_head.linear_pred.bias'] = source.take(
        'decode_head.conv_seg.bias', ndim=1)
    source.check()
    return converted
