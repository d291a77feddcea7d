"""Independent pure-PyTorch forward of the official SSFormer.

Written from the published architecture (NVlabs MiT encoder, SSFormer's
Progressive Locality Decoder) so that converted checkpoints can be checked
against something that shares no code with mmseg, mmcv or this package. It
reads weights straight from a state dict in the official layout
(``backbone.patch_embed1.proj.weight``, ``decode_head.linear_c1...``) and
runs in eval mode only (no dropout, BatchNorm with running statistics).
"""
import math
import re
from typing import Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# The official code builds its LayerNorms with two different eps values:
# ``partial(nn.LayerNorm, eps=1e-6)`` for the block and stage norms, the
# ``nn.LayerNorm`` default for the patch embeddings and the spatial
# reduction of the attention.
BLOCK_NORM_EPS = 1e-6
STAGE_NORM_EPS = 1e-6
PATCH_EMBED_NORM_EPS = 1e-5
SR_NORM_EPS = 1e-5
BN_EPS = 1e-5

MIT_NUM_HEADS = (1, 2, 5, 8)


def _layer_norm(x: Tensor, sd: Mapping[str, Tensor], name: str,
                eps: float) -> Tensor:
    weight = sd[f'{name}.weight']
    return F.layer_norm(x, weight.shape, weight, sd[f'{name}.bias'], eps)


def _linear(x: Tensor, sd: Mapping[str, Tensor], name: str) -> Tensor:
    return F.linear(x, sd[f'{name}.weight'], sd[f'{name}.bias'])


def _attention(x: Tensor, h: int, w: int, sd: Mapping[str, Tensor], name: str,
               num_heads: int) -> Tensor:
    batch, tokens, dim = x.shape
    head_dim = dim // num_heads
    q = _linear(x, sd, f'{name}.q').reshape(batch, tokens, num_heads,
                                            head_dim).transpose(1, 2)
    if f'{name}.sr.weight' in sd:
        ratio = sd[f'{name}.sr.weight'].shape[-1]
        x_kv = x.transpose(1, 2).reshape(batch, dim, h, w)
        x_kv = F.conv2d(
            x_kv, sd[f'{name}.sr.weight'], sd[f'{name}.sr.bias'], stride=ratio)
        x_kv = x_kv.flatten(2).transpose(1, 2)
        x_kv = _layer_norm(x_kv, sd, f'{name}.norm', SR_NORM_EPS)
    else:
        x_kv = x
    kv = _linear(x_kv, sd,
                 f'{name}.kv').reshape(batch, -1, 2, num_heads,
                                       head_dim).permute(2, 0, 3, 1, 4)
    k, v = kv[0], kv[1]
    attn = (q @ k.transpose(-2, -1)) * head_dim**-0.5
    out = attn.softmax(dim=-1) @ v
    out = out.transpose(1, 2).reshape(batch, tokens, dim)
    return _linear(out, sd, f'{name}.proj')


def _mlp(x: Tensor, h: int, w: int, sd: Mapping[str, Tensor],
         name: str) -> Tensor:
    x = _linear(x, sd, f'{name}.fc1')
    batch, _, hidden = x.shape
    x = x.transpose(1, 2).reshape(batch, hidden, h, w)
    x = F.conv2d(
        x,
        sd[f'{name}.dwconv.dwconv.weight'],
        sd[f'{name}.dwconv.dwconv.bias'],
        padding=1,
        groups=hidden)
    x = F.gelu(x.flatten(2).transpose(1, 2))
    return _linear(x, sd, f'{name}.fc2')


def _count(sd: Mapping[str, Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for m in map(re.compile(pattern).match, sd) if m}
    return len(found)


def infer_depths(sd: Mapping[str, Tensor],
                 prefix: str = 'backbone.') -> List[int]:
    """Number of blocks per stage of an official-layout MiT state dict."""
    num_stages = _count(sd, re.escape(prefix) + r'patch_embed(\d+)\.')
    return [
        _count(sd,
               re.escape(f'{prefix}block{s}.') + r'(\d+)\.')
        for s in range(1, num_stages + 1)
    ]


def mit_forward(sd: Mapping[str, Tensor],
                x: Tensor,
                depths: Optional[Sequence[int]] = None,
                num_heads: Sequence[int] = MIT_NUM_HEADS,
                prefix: str = 'backbone.') -> List[Tensor]:
    """Run the NVlabs MiT encoder.

    Args:
        sd (Mapping): Weights in the NVlabs layout.
        x (Tensor): Images, (N, 3, H, W).
        depths (Sequence[int], optional): Blocks per stage; inferred from the
            keys when omitted.
        num_heads (Sequence[int]): Attention heads per stage (not
            recoverable from the weights).
        prefix (str): Prefix of the MiT keys.

    Returns:
        list[Tensor]: The (N, C, H, W) output of every stage.
    """
    depths = infer_depths(sd, prefix) if depths is None else depths
    outs = []
    for stage, depth in enumerate(depths, start=1):
        proj = sd[f'{prefix}patch_embed{stage}.proj.weight']
        # Stage 1 embeds 7x7 patches with stride 4, later stages 3x3 with 2.
        stride = 4 if stage == 1 else 2
        x = F.conv2d(
            x,
            proj,
            sd[f'{prefix}patch_embed{stage}.proj.bias'],
            stride=stride,
            padding=proj.shape[-1] // 2)
        batch, dim, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = _layer_norm(x, sd, f'{prefix}patch_embed{stage}.norm',
                        PATCH_EMBED_NORM_EPS)
        for block in range(depth):
            name = f'{prefix}block{stage}.{block}'
            x = x + _attention(
                _layer_norm(x, sd, f'{name}.norm1', BLOCK_NORM_EPS), h, w, sd,
                f'{name}.attn', num_heads[stage - 1])
            x = x + _mlp(
                _layer_norm(x, sd, f'{name}.norm2', BLOCK_NORM_EPS), h, w, sd,
                f'{name}.mlp')
        x = _layer_norm(x, sd, f'{prefix}norm{stage}', STAGE_NORM_EPS)
        x = x.transpose(1, 2).reshape(batch, dim, h, w)
        outs.append(x)
    return outs


def _local_emphasis(x: Tensor, sd: Mapping[str, Tensor], name: str) -> Tensor:
    x = F.relu(F.conv2d(x, sd[f'{name}.proj.0.weight'], padding=1))
    return F.relu(F.conv2d(x, sd[f'{name}.proj.2.weight'], padding=1))


def _conv_bn_relu(x: Tensor, sd: Mapping[str, Tensor], name: str) -> Tensor:
    x = F.conv2d(x, sd[f'{name}.conv.weight'])
    x = F.batch_norm(
        x,
        sd[f'{name}.bn.running_mean'],
        sd[f'{name}.bn.running_var'],
        sd[f'{name}.bn.weight'],
        sd[f'{name}.bn.bias'],
        training=False,
        eps=BN_EPS)
    return F.relu(x)


def official_forward(state_dict: Mapping[str, Tensor],
                     x: Tensor,
                     depths: Optional[Sequence[int]] = None,
                     num_heads: Sequence[int] = MIT_NUM_HEADS) -> Tensor:
    """Eval-mode forward of the official SSFormer.

    Args:
        state_dict (Mapping): Weights in the official SSFormer layout.
        x (Tensor): Images, (N, 3, H, W), H and W multiples of 32.
        depths (Sequence[int], optional): MiT blocks per stage, e.g.
            ``[3, 4, 6, 3]`` (SSFormer-S) or ``[3, 8, 27, 3]`` (SSFormer-L);
            inferred from the keys when omitted.
        num_heads (Sequence[int]): Attention heads per stage.

    Returns:
        Tensor: Logits at the input size, (N, num_classes, H, W).
    """
    sd: Dict[str, Tensor] = dict(state_dict)
    c1, c2, c3, c4 = mit_forward(sd, x, depths, num_heads)
    size = c1.shape[2:]

    def emphasise(feat: Tensor, stage: int) -> Tensor:
        out = _local_emphasis(feat, sd, f'decode_head.linear_c{stage}')
        if out.shape[2:] != size:
            out = F.interpolate(
                out, size=size, mode='bilinear', align_corners=False)
        return out

    _c4, _c3 = emphasise(c4, 4), emphasise(c3, 3)
    _c2, _c1 = emphasise(c2, 2), emphasise(c1, 1)
    l34 = _conv_bn_relu(
        torch.cat([_c4, _c3], 1), sd, 'decode_head.linear_fuse34')
    l2 = _conv_bn_relu(
        torch.cat([l34, _c2], 1), sd, 'decode_head.linear_fuse2')
    out = _conv_bn_relu(
        torch.cat([l2, _c1], 1), sd, 'decode_head.linear_fuse1')
    out = F.conv2d(out, sd['decode_head.linear_pred.weight'],
                   sd['decode_head.linear_pred.bias'])
    return F.interpolate(
        out, scale_factor=4, mode='bilinear', align_corners=True)


def make_official_state_dict(depths: Sequence[int],
                             dims: Sequence[int] = (64, 128, 320, 512),
                             sr_ratios: Sequence[int] = (8, 4, 2, 1),
                             decoder_channels: int = 256,
                             num_classes: int = 1,
                             mlp_ratio: int = 4,
                             seed: int = 0) -> Dict[str, Tensor]:
    """Random official-layout SSFormer weights scaled like trained ones.

    Linear weights follow MiT's truncated-normal std 0.02, convolutions
    He's fan-out normal, LayerNorm and BatchNorm affine parameters are near
    1 (weights, +-0.1) and 0 (biases), biases are small but non-zero and the
    BatchNorm running statistics are random, so that no term is trivially
    zero or one. Also carries the unused ``decode_head.linear_fuse`` the
    official head builds.

    Args:
        depths (Sequence[int]): MiT blocks per stage.
        dims (Sequence[int]): Channels per stage.
        sr_ratios (Sequence[int]): Spatial reduction ratio per stage.
        decoder_channels (int): Channels of the decoder.
        num_classes (int): Output channels of ``linear_pred``.
        mlp_ratio (int): Hidden-to-input ratio of the MLPs.
        seed (int): Seed of the generator.

    Returns:
        dict[str, Tensor]: The weights.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float, mean: float = 0.) -> Tensor:
        return torch.randn(*shape, generator=gen) * std + mean

    def linear(name: str, out_dim: int, in_dim: int) -> None:
        sd[f'{name}.weight'] = normal(
            out_dim, in_dim, std=0.02).clamp(-0.04, 0.04)
        sd[f'{name}.bias'] = normal(out_dim, std=0.02)

    def conv(name: str,
             out_dim: int,
             in_dim: int,
             k: int,
             bias: bool = True,
             groups: int = 1,
             std: Optional[float] = None) -> None:
        if std is None:
            std = math.sqrt(2. * groups / (k * k * out_dim))
        sd[f'{name}.weight'] = normal(out_dim, in_dim // groups, k, k, std=std)
        if bias:
            sd[f'{name}.bias'] = normal(out_dim, std=0.02)

    def norm(name: str, dim: int) -> None:
        sd[f'{name}.weight'] = 1 + (torch.rand(dim, generator=gen) - .5) * .2
        sd[f'{name}.bias'] = normal(dim, std=0.05)

    def conv_module(name: str, out_dim: int, in_dim: int) -> None:
        conv(f'{name}.conv', out_dim, in_dim, 1, bias=False)
        norm(f'{name}.bn', out_dim)
        sd[f'{name}.bn.running_mean'] = normal(out_dim, std=0.1)
        sd[f'{name}.bn.running_var'] = 0.5 + torch.rand(out_dim, generator=gen)
        sd[f'{name}.bn.num_batches_tracked'] = torch.tensor(1000)

    sd: Dict[str, Tensor] = {}
    in_dim = 3
    for s, (depth, dim, sr) in enumerate(zip(depths, dims, sr_ratios), 1):
        pre = f'backbone.patch_embed{s}'
        conv(f'{pre}.proj', dim, in_dim, 7 if s == 1 else 3)
        norm(f'{pre}.norm', dim)
        for j in range(depth):
            pre = f'backbone.block{s}.{j}'
            norm(f'{pre}.norm1', dim)
            linear(f'{pre}.attn.q', dim, dim)
            linear(f'{pre}.attn.kv', 2 * dim, dim)
            linear(f'{pre}.attn.proj', dim, dim)
            if sr > 1:
                conv(f'{pre}.attn.sr', dim, dim, sr)
                norm(f'{pre}.attn.norm', dim)
            norm(f'{pre}.norm2', dim)
            linear(f'{pre}.mlp.fc1', dim * mlp_ratio, dim)
            conv(
                f'{pre}.mlp.dwconv.dwconv',
                dim * mlp_ratio,
                dim * mlp_ratio,
                3,
                groups=dim * mlp_ratio)
            linear(f'{pre}.mlp.fc2', dim, dim * mlp_ratio)
        norm(f'backbone.norm{s}', dim)
        in_dim = dim
    for s, dim in enumerate(dims, 1):
        conv(
            f'decode_head.linear_c{s}.proj.0',
            decoder_channels,
            dim,
            3,
            bias=False)
        conv(
            f'decode_head.linear_c{s}.proj.2',
            decoder_channels,
            decoder_channels,
            3,
            bias=False)
    for name in ('linear_fuse34', 'linear_fuse2', 'linear_fuse1'):
        conv_module(f'decode_head.{name}', decoder_channels,
                    2 * decoder_channels)
    conv_module('decode_head.linear_fuse', decoder_channels,
                4 * decoder_channels)
    # He's init would give a one-channel classifier std 1.4 and logits
    # around +-100; trained polyp models rather output about +-15.
    conv('decode_head.linear_pred', num_classes, decoder_channels, 1, std=.3)
    return sd
