"""NVlabs MiT <-> mmseg ``MixVisionTransformer`` (see the package docstring
for both layouts)."""
import re
from collections import OrderedDict
from typing import Any, List, Mapping, Tuple

import torch

from .state_dicts import (KeySource, StateDict, conv_to_linear,
                          copy_weight_bias, count_indexed, is_profiler_key,
                          linear_to_conv, unwrap_state_dict)


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
        if is_profiler_key(k) or k in ('head.weight', 'head.bias')
    ]
    source = KeySource(state_dict, dropped)
    converted = mit_to_mmseg_keys(source, prefix, out_prefix='')
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
    source = KeySource(state_dict, ())
    converted = mmseg_to_mit_keys(source, prefix='', out_prefix='')
    source.check()
    return converted


def mit_to_mmseg_keys(source: KeySource, prefix: str,
                      out_prefix: str) -> StateDict:
    """Move the NVlabs MiT keys under ``prefix`` to mmseg's layout."""
    out: StateDict = OrderedDict()
    num_stages = count_indexed(
        source.remaining(), re.escape(prefix) + r'patch_embed(\d+)\.', start=1)
    if num_stages == 0:
        source.missing.append(f'{prefix}patch_embed1.proj.weight')
        return out
    for stage in range(1, num_stages + 1):
        src, dst = prefix, f'{out_prefix}layers.{stage - 1}'
        copy_weight_bias(source, out, f'{src}patch_embed{stage}.proj',
                         f'{dst}.0.projection')
        copy_weight_bias(source, out, f'{src}patch_embed{stage}.norm',
                         f'{dst}.0.norm')
        num_blocks = count_indexed(
            source.remaining(),
            re.escape(f'{prefix}block{stage}.') + r'(\d+)\.')
        if num_blocks == 0:
            source.missing.append(f'{prefix}block{stage}.0.norm1.weight')
        for block in range(num_blocks):
            _mit_block_to_mmseg(source, out, f'{src}block{stage}.{block}',
                                f'{dst}.1.{block}')
        copy_weight_bias(source, out, f'{src}norm{stage}', f'{dst}.2')
    return out


def _mit_block_to_mmseg(source: KeySource, out: StateDict, src: str,
                        dst: str) -> None:
    copy_weight_bias(source, out, f'{src}.norm1', f'{dst}.norm1')
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
    copy_weight_bias(source, out, f'{src}.attn.proj',
                     f'{dst}.attn.attn.out_proj')
    # Spatial reduction exists only in stages with sr_ratio > 1.
    if source.has(f'{src}.attn.sr.weight'):
        copy_weight_bias(source, out, f'{src}.attn.sr', f'{dst}.attn.sr')
        copy_weight_bias(source, out, f'{src}.attn.norm', f'{dst}.attn.norm')
    copy_weight_bias(source, out, f'{src}.norm2', f'{dst}.norm2')
    out[f'{dst}.ffn.layers.0.weight'] = linear_to_conv(
        source, f'{src}.mlp.fc1.weight')
    out[f'{dst}.ffn.layers.0.bias'] = source.take(f'{src}.mlp.fc1.bias')
    copy_weight_bias(source, out, f'{src}.mlp.dwconv.dwconv',
                     f'{dst}.ffn.layers.1')
    out[f'{dst}.ffn.layers.4.weight'] = linear_to_conv(
        source, f'{src}.mlp.fc2.weight')
    out[f'{dst}.ffn.layers.4.bias'] = source.take(f'{src}.mlp.fc2.bias')


def mmseg_to_mit_keys(source: KeySource, prefix: str,
                      out_prefix: str) -> StateDict:
    """Move mmseg ``MixVisionTransformer`` keys to the NVlabs layout."""
    out: StateDict = OrderedDict()
    num_stages = count_indexed(source.remaining(),
                               re.escape(prefix) + r'layers\.(\d+)\.')
    if num_stages == 0:
        source.missing.append(f'{prefix}layers.0.0.projection.weight')
        return out
    for stage in range(num_stages):
        src, dst = f'{prefix}layers.{stage}', f'{out_prefix}'
        copy_weight_bias(source, out, f'{src}.0.projection',
                         f'{dst}patch_embed{stage + 1}.proj')
        copy_weight_bias(source, out, f'{src}.0.norm',
                         f'{dst}patch_embed{stage + 1}.norm')
        num_blocks = count_indexed(source.remaining(),
                                   re.escape(f'{src}.1.') + r'(\d+)\.')
        if num_blocks == 0:
            source.missing.append(f'{src}.1.0.norm1.weight')
        for block in range(num_blocks):
            _mmseg_block_to_mit(source, out, f'{src}.1.{block}',
                                f'{dst}block{stage + 1}.{block}')
        copy_weight_bias(source, out, f'{src}.2', f'{dst}norm{stage + 1}')
    return out


def _mmseg_block_to_mit(source: KeySource, out: StateDict, src: str,
                        dst: str) -> None:
    copy_weight_bias(source, out, f'{src}.norm1', f'{dst}.norm1')
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
    copy_weight_bias(source, out, f'{src}.attn.attn.out_proj',
                     f'{dst}.attn.proj')
    if source.has(f'{src}.attn.sr.weight'):
        copy_weight_bias(source, out, f'{src}.attn.sr', f'{dst}.attn.sr')
        copy_weight_bias(source, out, f'{src}.attn.norm', f'{dst}.attn.norm')
    copy_weight_bias(source, out, f'{src}.norm2', f'{dst}.norm2')
    out[f'{dst}.mlp.fc1.weight'] = conv_to_linear(
        source, f'{src}.ffn.layers.0.weight')
    out[f'{dst}.mlp.fc1.bias'] = source.take(f'{src}.ffn.layers.0.bias')
    copy_weight_bias(source, out, f'{src}.ffn.layers.1',
                     f'{dst}.mlp.dwconv.dwconv')
    out[f'{dst}.mlp.fc2.weight'] = conv_to_linear(
        source, f'{src}.ffn.layers.4.weight')
    out[f'{dst}.mlp.fc2.bias'] = source.take(f'{src}.ffn.layers.4.bias')
