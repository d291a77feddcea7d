"""Convert official SSFormer and NVlabs MiT checkpoints to this package.

All functions are pure: they take a state dict (or a checkpoint wrapping one
as ``{'state_dict': ...}`` or ``{'model': ...}``) and return new dicts, and
never touch the files. They are strict: every source key is either converted
or dropped on a short list of keys that are provably unused (returned so that
callers can report them); any other leftover key, any expected key that is
missing and any tensor of an unexpected shape raise
:class:`CheckpointConversionError` naming the keys.

Layouts:

* **NVlabs MiT** (SegFormer's ``mit_b*.pth`` and the official SSFormer
  backbone): ``patch_embed{s}.proj/norm``, ``block{s}.{j}.norm1``,
  ``.attn.q`` / ``.attn.kv`` / ``.attn.proj`` (``nn.Linear``),
  ``.attn.sr`` / ``.attn.norm`` (only where the spatial reduction ratio is
  above 1), ``.norm2``, ``.mlp.fc1`` / ``.mlp.fc2`` (``nn.Linear``),
  ``.mlp.dwconv.dwconv`` and the stage norms ``norm{s}``, ``s`` from 1.
* **mmseg** ``MixVisionTransformer``: ``layers.{i}.0`` (patch embedding),
  ``layers.{i}.1.{j}`` (blocks; q, k and v stacked in
  ``attn.attn.in_proj_*``, the MLP as 1x1 / depthwise / 1x1 convolutions
  ``ffn.layers.{0,1,4}``) and ``layers.{i}.2`` (stage norm), ``i`` from 0.
* **Official SSFormer head**: ``linear_c{s}.proj.{0,2}`` (Local Emphasis),
  ``linear_fuse34`` / ``linear_fuse2`` / ``linear_fuse1`` (stepwise fusion)
  and ``linear_pred``; ours is :class:`~ssformer_mmseg.PLDHead`
  (``local_emphasis.{i}.{0,1}.conv``, ``fuse_convs.{i}``, ``conv_seg``).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

__all__ = [
    'CheckpointConversionError', 'unwrap_state_dict', 'convert_mit',
    'mit_to_official', 'convert_ssformer', 'ssformer_to_official',
    'convert_checkpoint_file'
]

# Buffers that FLOP counters (thop and friends) register on every module;
# they are statistics of a profiling run, not weights.
_PROFILER_SUFFIXES = ('total_ops', 'total_params')
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
_WEIGHT_BIAS = ('weight', 'bias')


class CheckpointConversionError(KeyError):
    """A checkpoint does not have the layout a converter expects.

    A ``KeyError`` subclass so that callers treating a bad layout as a key
    problem keep working; ``str()`` gives the plain message (``KeyError``
    would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def unwrap_state_dict(checkpoint: Mapping[str, Any]) -> StateDict:
    """Return the state dict held by a checkpoint.

    Args:
        checkpoint (Mapping): A state dict, or a checkpoint holding one under
            ``'state_dict'`` (mmengine) or ``'model'`` (many training
            scripts). A ``module.`` prefix on every key (``DataParallel``) is
            removed.

    Returns:
        dict[str, Tensor]: The state dict, as a new ``OrderedDict`` (the
        tensors are shared with the input).

    Raises:
        CheckpointConversionError: If no tensor state dict is found.
    """
    state_dict: Any = checkpoint
    for wrapper in ('state_dict', 'model'):
        if isinstance(state_dict, Mapping) and isinstance(
                state_dict.get(wrapper), Mapping):
            state_dict = state_dict[wrapper]
            break
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointConversionError(
            'expected a non-empty state dict, or a checkpoint with one under '
            f"'state_dict' or 'model'; got {type(checkpoint).__name__}")
    not_tensors = [k for k, v in state_dict.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise CheckpointConversionError(
            'state dict entries that are not tensors: ' +
            _format_keys(not_tensors))
    keys = list(state_dict)
    if all(k.startswith('module.') for k in keys):
        return OrderedDict(
            (k[len('module.'):], v) for k, v in state_dict.items())
    return OrderedDict(state_dict)


def convert_mit(state_dict: Mapping[str, Any]) -> Tuple[StateDict, List[str]]:
    """Convert an NVlabs MiT backbone to mmseg's ``MixVisionTransformer``.

    The result loads with ``strict=True`` into ``MixVisionTransformer`` and
    works as the backbone's ``init_cfg=dict(type='Pretrained',
    checkpoint=...)``. Stages and blocks are counted from the keys, so any
    MiT-B0 to B5 (or a custom depth) converts.

    Args:
        state_dict (Mapping): NVlabs MiT weights, keys with or without a
            ``backbone.`` prefix (the prefix is not kept), possibly wrapped
            (see :func:`unwrap_state_dict`). The ImageNet classifier
            ``head.*`` of NVlabs' ``mit_b*.pth`` is dropped.

    Returns:
        tuple[dict[str, Tensor], list[str]]: The converted state dict, keys
        without prefix, and the source keys that were dropped.

    Raises:
        CheckpointConversionError: On a missing key, a key that is neither
            converted nor droppable, or a tensor of the wrong shape.
    """
    state_dict = unwrap_state_dict(state_dict)
    prefix = 'backbone.' if any(
        k.startswith('backbone.patch_embed') for k in state_dict) else ''
    dropped = [
        k for k in state_dict
        if _is_profiler_key(k) or k in ('head.weight', 'head.bias')
    ]
    source = _Source(state_dict, dropped)
    converted = _mit_to_mmseg(source, prefix, out_prefix='')
    hint = (' (a full SSFormer checkpoint? use convert_ssformer)' if any(
        k.startswith('decode_head.') for k in source.remaining()) else '')
    source.check(hint)
    return converted, dropped


def mit_to_official(state_dict: Mapping[str, Any]) -> StateDict:
    """Convert an mmseg ``MixVisionTransformer`` to the NVlabs MiT layout.

    The inverse of :func:`convert_mit` (which cannot bring back the ImageNet
    classifier).

    Args:
        state_dict (Mapping): ``MixVisionTransformer`` weights, keys without
            prefix (``layers.0.0.projection.weight``, ...), possibly wrapped.

    Returns:
        dict[str, Tensor]: Weights in the NVlabs MiT layout, keys without
        prefix.

    Raises:
        CheckpointConversionError: On a missing or unexpected key, or a
            tensor of the wrong shape.
    """
    state_dict = unwrap_state_dict(state_dict)
    source = _Source(state_dict, ())
    converted = _mmseg_to_mit(source, prefix='', out_prefix='')
    source.check()
    return converted


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
        if _is_profiler_key(k) or k.startswith(_UNUSED_OFFICIAL_HEAD_PREFIX)
    ]
    source = _Source(state_dict, dropped)
    converted = _mit_to_mmseg(source, 'backbone.', out_prefix='backbone.')
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
    source = _Source(state_dict, ())
    converted = _mmseg_to_mit(source, 'backbone.', out_prefix='backbone.')
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


def convert_checkpoint_file(src: str, dst: str, kind: str) -> List[str]:
    """Convert the checkpoint file ``src`` and save the result as ``dst``.

    ``src`` is read with ``torch.load(weights_only=True)``, so a file that
    would run code when unpickled is refused. The dropped keys and the
    number of converted tensors are printed.

    Args:
        src (str): Official checkpoint file.
        dst (str): Output file.
        kind (str): ``'ssformer'`` (:func:`convert_ssformer`; saved as
            ``{'state_dict', 'meta'}``, the mmengine checkpoint layout) or
            ``'mit'`` (:func:`convert_mit`; saved as a plain state dict, like
            mmseg's own converted MiT weights, for a ``Pretrained``
            ``init_cfg``).

    Returns:
        list[str]: The dropped source keys.
    """
    import os.path as osp

    from . import __version__
    converters = dict(ssformer=convert_ssformer, mit=convert_mit)
    if kind not in converters:
        raise ValueError(f'kind must be one of {sorted(converters)}, '
                         f'got {kind!r}')
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    converted, dropped = converters[kind](checkpoint)
    if dropped:
        print(f'dropped {len(dropped)} unused keys:')
        for key in dropped:
            print(f'  {key}')
    if kind == 'ssformer':
        from .datasets import PolypDataset

        # The official models are binary polyp segmenters; with the names
        # and colours in meta, mmseg's init_model / MMSegInferencer use them.
        meta = dict(
            dataset_meta=dict(
                classes=PolypDataset.METAINFO['classes'],
                palette=PolypDataset.METAINFO['palette']),
            source=osp.basename(src),
            converter=f'{__name__}.convert_ssformer',
            ssformer_mmseg_version=__version__,
            dropped_keys=dropped)
        torch.save(dict(state_dict=converted, meta=meta), dst)
    else:
        torch.save(converted, dst)
    print(f'converted {len(converted)} tensors: {src} -> {dst}')
    return dropped


class _Source:
    """Hands out the tensors of a state dict and records which were used.

    Missing keys are collected rather than raised one by one, so that a
    wrong checkpoint is reported with all its problems at once.
    """

    def __init__(self, state_dict: StateDict, dropped: Iterable[str]):
        self.state_dict = state_dict
        dropped = set(dropped)
        self.unused = [k for k in state_dict if k not in dropped]
        self._unused_set = set(self.unused)
        self.missing: List[str] = []
        self.bad_shapes: List[str] = []

    def remaining(self) -> List[str]:
        """Keys that are neither dropped nor consumed yet, in source order."""
        return [k for k in self.unused if k in self._unused_set]

    def has(self, key: str) -> bool:
        return key in self.state_dict

    def take(self, key: str, ndim: Optional[int] = None) -> Tensor:
        """Consume ``key``; a missing key yields an empty placeholder."""
        if key not in self.state_dict:
            self.missing.append(key)
            return torch.empty(0)
        self._unused_set.discard(key)
        tensor = self.state_dict[key]
        if ndim is not None and tensor.dim() != ndim:
            self.bad_shapes.append(
                f'{key}: expected {ndim} dims, got {tuple(tensor.shape)}')
        return tensor

    def shape_error(self, message: str) -> None:
        self.bad_shapes.append(message)

    def check(self, hint: str = '') -> None:
        """Raise if anything was missing, left over or mis-shaped."""
        problems = []
        if self.missing:
            problems.append('missing keys: ' + _format_keys(self.missing))
        leftover = self.remaining()
        if leftover:
            problems.append('unexpected keys: ' + _format_keys(leftover) +
                            hint)
        if self.bad_shapes:
            problems.append('unexpected shapes: ' + '; '.join(self.bad_shapes))
        if problems:
            raise CheckpointConversionError(
                'checkpoint does not have the expected layout; ' +
                '. '.join(problems))


def _format_keys(keys: List[str], limit: int = 30) -> str:
    shown = ', '.join(keys[:limit])
    if len(keys) > limit:
        shown += f', ... ({len(keys) - limit} more, {len(keys)} in all)'
    return shown


def _is_profiler_key(key: str) -> bool:
    return key.rsplit('.', 1)[-1] in _PROFILER_SUFFIXES


def _count_indexed(keys: Iterable[str], pattern: str, start: int = 0) -> int:
    """Number of consecutive indices matched by ``pattern`` from ``start``.

    Counting up to the largest index found (not the number of distinct
    indices) turns a gap into missing keys, which are then reported.
    """
    indices = {
        int(m.group(1))
        for m in (re.match(pattern, k) for k in keys) if m
    }
    return max(indices) - start + 1 if indices else 0


def _linear_to_conv(source: _Source, key: str) -> Tensor:
    weight = source.take(key, ndim=2)
    return weight.reshape(*weight.shape, 1, 1) if weight.dim() == 2 \
        else weight


def _conv_to_linear(source: _Source, key: str) -> Tensor:
    weight = source.take(key, ndim=4)
    if weight.dim() == 4 and weight.shape[2:] != (1, 1):
        source.shape_error(f'{key}: expected a 1x1 kernel, got '
                           f'{tuple(weight.shape)}')
    return weight.reshape(weight.shape[0], -1) if weight.dim() == 4 \
        else weight


def _copy_weight_bias(source: _Source, out: StateDict, src: str,
                      dst: str) -> None:
    for name in _WEIGHT_BIAS:
        out[f'{dst}.{name}'] = source.take(f'{src}.{name}')


def _mit_to_mmseg(source: _Source, prefix: str, out_prefix: str) -> StateDict:
    """Move the NVlabs MiT keys under ``prefix`` to mmseg's layout."""
    out: StateDict = OrderedDict()
    num_stages = _count_indexed(source.remaining(),
                                re.escape(prefix) + r'patch_embed(\d+)\.',
                                start=1)
    if num_stages == 0:
        source.missing.append(f'{prefix}patch_embed1.proj.weight')
        return out
    for stage in range(1, num_stages + 1):
        src, dst = prefix, f'{out_prefix}layers.{stage - 1}'
        _copy_weight_bias(source, out, f'{src}patch_embed{stage}.proj',
                          f'{dst}.0.projection')
        _copy_weight_bias(source, out, f'{src}patch_embed{stage}.norm',
                          f'{dst}.0.norm')
        num_blocks = _count_indexed(
            source.remaining(),
            re.escape(f'{prefix}block{stage}.') + r'(\d+)\.')
        if num_blocks == 0:
            source.missing.append(f'{prefix}block{stage}.0.norm1.weight')
        for block in range(num_blocks):
            _mit_block_to_mmseg(source, out, f'{src}block{stage}.{block}',
                                f'{dst}.1.{block}')
        _copy_weight_bias(source, out, f'{src}norm{stage}', f'{dst}.2')
    return out


def _mit_block_to_mmseg(source: _Source, out: StateDict, src: str,
                        dst: str) -> None:
    _copy_weight_bias(source, out, f'{src}.norm1', f'{dst}.norm1')
    q_weight = source.take(f'{src}.attn.q.weight', ndim=2)
    kv_weight = source.take(f'{src}.attn.kv.weight', ndim=2)
    q_bias = source.take(f'{src}.attn.q.bias', ndim=1)
    kv_bias = source.take(f'{src}.attn.kv.bias', ndim=1)
    if q_weight.dim() == 2 and kv_weight.dim() == 2:
        dim = q_weight.shape[0]
        if q_weight.shape != (dim, dim) or kv_weight.shape != (2 * dim, dim):
            source.shape_error(
                f'{src}.attn.q/kv: expected ({dim}, {dim}) and '
                f'({2 * dim}, {dim}), got {tuple(q_weight.shape)} and '
                f'{tuple(kv_weight.shape)}')
        else:
            # nn.MultiheadAttention stacks q, k, v in this order and the
            # NVlabs kv projection already holds k before v.
            out[f'{dst}.attn.attn.in_proj_weight'] = torch.cat(
                [q_weight, kv_weight])
            out[f'{dst}.attn.attn.in_proj_bias'] = torch.cat([q_bias, kv_bias])
    _copy_weight_bias(source, out, f'{src}.attn.proj',
                      f'{dst}.attn.attn.out_proj')
    # Spatial reduction exists only in stages with sr_ratio > 1.
    if source.has(f'{src}.attn.sr.weight'):
        _copy_weight_bias(source, out, f'{src}.attn.sr', f'{dst}.attn.sr')
        _copy_weight_bias(source, out, f'{src}.attn.norm', f'{dst}.attn.norm')
    _copy_weight_bias(source, out, f'{src}.norm2', f'{dst}.norm2')
    out[f'{dst}.ffn.layers.0.weight'] = _linear_to_conv(
        source, f'{src}.mlp.fc1.weight')
    out[f'{dst}.ffn.layers.0.bias'] = source.take(f'{src}.mlp.fc1.bias')
    _copy_weight_bias(source, out, f'{src}.mlp.dwconv.dwconv',
                      f'{dst}.ffn.layers.1')
    out[f'{dst}.ffn.layers.4.weight'] = _linear_to_conv(
        source, f'{src}.mlp.fc2.weight')
    out[f'{dst}.ffn.layers.4.bias'] = source.take(f'{src}.mlp.fc2.bias')


def _mmseg_to_mit(source: _Source, prefix: str, out_prefix: str) -> StateDict:
    """Move mmseg ``MixVisionTransformer`` keys to the NVlabs layout."""
    out: StateDict = OrderedDict()
    num_stages = _count_indexed(source.remaining(),
                                re.escape(prefix) + r'layers\.(\d+)\.')
    if num_stages == 0:
        source.missing.append(f'{prefix}layers.0.0.projection.weight')
        return out
    for stage in range(num_stages):
        src, dst = f'{prefix}layers.{stage}', f'{out_prefix}'
        _copy_weight_bias(source, out, f'{src}.0.projection',
                          f'{dst}patch_embed{stage + 1}.proj')
        _copy_weight_bias(source, out, f'{src}.0.norm',
                          f'{dst}patch_embed{stage + 1}.norm')
        num_blocks = _count_indexed(source.remaining(),
                                    re.escape(f'{src}.1.') + r'(\d+)\.')
        if num_blocks == 0:
            source.missing.append(f'{src}.1.0.norm1.weight')
        for block in range(num_blocks):
            _mmseg_block_to_mit(source, out, f'{src}.1.{block}',
                                f'{dst}block{stage + 1}.{block}')
        _copy_weight_bias(source, out, f'{src}.2', f'{dst}norm{stage + 1}')
    return out


def _mmseg_block_to_mit(source: _Source, out: StateDict, src: str,
                        dst: str) -> None:
    _copy_weight_bias(source, out, f'{src}.norm1', f'{dst}.norm1')
    in_weight = source.take(f'{src}.attn.attn.in_proj_weight', ndim=2)
    in_bias = source.take(f'{src}.attn.attn.in_proj_bias', ndim=1)
    if in_weight.dim() == 2 and in_bias.dim() == 1:
        dim = in_weight.shape[1]
        if in_weight.shape[0] != 3 * dim or in_bias.shape[0] != 3 * dim:
            source.shape_error(
                f'{src}.attn.attn.in_proj_*: expected ({3 * dim}, {dim}) '
                f'and ({3 * dim},), got {tuple(in_weight.shape)} and '
                f'{tuple(in_bias.shape)}')
        else:
            # Clones, so the saved q and kv do not drag the whole stacked
            # storage along.
            out[f'{dst}.attn.q.weight'] = in_weight[:dim].clone()
            out[f'{dst}.attn.q.bias'] = in_bias[:dim].clone()
            out[f'{dst}.attn.kv.weight'] = in_weight[dim:].clone()
            out[f'{dst}.attn.kv.bias'] = in_bias[dim:].clone()
    _copy_weight_bias(source, out, f'{src}.attn.attn.out_proj',
                      f'{dst}.attn.proj')
    if source.has(f'{src}.attn.sr.weight'):
        _copy_weight_bias(source, out, f'{src}.attn.sr', f'{dst}.attn.sr')
        _copy_weight_bias(source, out, f'{src}.attn.norm', f'{dst}.attn.norm')
    _copy_weight_bias(source, out, f'{src}.norm2', f'{dst}.norm2')
    out[f'{dst}.mlp.fc1.weight'] = _conv_to_linear(
        source, f'{src}.ffn.layers.0.weight')
    out[f'{dst}.mlp.fc1.bias'] = source.take(f'{src}.ffn.layers.0.bias')
    _copy_weight_bias(source, out, f'{src}.ffn.layers.1',
                      f'{dst}.mlp.dwconv.dwconv')
    out[f'{dst}.mlp.fc2.weight'] = _conv_to_linear(
        source, f'{src}.ffn.layers.4.weight')
    out[f'{dst}.mlp.fc2.bias'] = source.take(f'{src}.ffn.layers.4.bias')
