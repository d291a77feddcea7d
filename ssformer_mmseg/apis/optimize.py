"""One switch for fast inference: :func:`optimize_for_inference`.

The model stays an mmseg segmentor (same modules, parameters, state-dict
keys, ``dataset_meta``, ``test_step``); what changes is how it computes:

* **Attention.** mmseg's MiT attention calls ``nn.MultiheadAttention`` with
  ``need_weights=True`` (its default), which builds and head-averages the full
  attention matrix and so never takes PyTorch's fused path. Here it runs
  through ``F.scaled_dot_product_attention`` with the same weights.
* **PLD head.** Each Stepwise-Feature-Aggregation fuse is a 1x1 convolution on
  ``cat(running, stage)`` followed by BatchNorm and ReLU. In eval mode the
  BatchNorm is folded into the convolution, and since a 1x1 convolution and
  bilinear resizing (``align_corners=False``: convex weights) commute, each
  half of the fuse is applied *before* its input is upsampled, at the
  stage's own resolution, and the halves are added instead of concatenated.
  Same function, fewer multiply-adds at the 1/4 scale.
* **MiT feed-forward.** Its 1x1 convolutions run as ``F.linear`` on the
  tokens (:class:`TokenMixFFN`).
* **Fused kernels (CPU).** Depthwise convolution + GELU, projection +
  residual and full-resolution fuse convolution + add + ReLU each run as
  one oneDNN primitive (:mod:`.fused_ops`).
* **Winograd (CPU, fp32).** Dense 3x3 convolutions (the PLD's Local
  Emphasis) use Winograd F(4x4, 3x3): a quarter of the multiplications
  (:mod:`.winograd`).
* **Memory format.** ``channels_last`` weights and inputs, the layout oneDNN
  (CPU) and cuDNN tensor cores prefer for convolutions.
* **Precision.** bf16 / fp16 autocast around the backbone and the head; the
  head's logits are returned in float32, so resizing, sigmoid and metrics
  run as before.
* **torch.compile** (optional) of the backbone and head forward passes.

All but the precision are exact up to float rounding (fp32 logits within
1e-4 of the eager model, tested); bf16 / fp16 are not, and their accuracy
cost is measured in the README.
"""
import argparse
import copy
import ctypes
import functools
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.backbones.mit import EfficientMultiheadAttention, MixFFN
from mmseg.models.utils import nlc_to_nchw, nchw_to_nlc, resize
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..models.decode_heads.pld_head import PLDHead
from . import fused_ops
from .winograd import use_winograd

PRECISIONS = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


def default_precision(device: torch.device) -> str:
    """``'fp16'`` on CUDA, ``'fp32'`` elsewhere.

    bf16 on CPU is opt-in: it is fast only on CPUs with native bf16 (AVX-512
    BF16 / AMX), and it changes the outputs slightly.
    """
    return 'fp16' if torch.device(device).type == 'cuda' else 'fp32'


class SDPAEfficientMultiheadAttention(EfficientMultiheadAttention):
    """mmseg's MiT attention computed with ``scaled_dot_product_attention``.

    Not built from configs: :func:`optimize_for_inference` switches the class
    of existing ``EfficientMultiheadAttention`` modules to this one, keeping
    their parameters. Inference only (no attention dropout).
    """

    def forward(self, x: Tensor, hw_shape: tuple,
                identity: Optional[Tensor] = None) -> Tensor:
        if identity is None:
            identity = x
        x_kv = x
        if self.sr_ratio > 1:
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        attn = self.attn
        dims = attn.embed_dim
        weight, bias = attn.in_proj_weight, attn.in_proj_bias
        q = fused_ops.linear(x, weight[:dims],
                             None if bias is None else bias[:dims])
        kv = fused_ops.linear(x_kv, weight[dims:],
                              None if bias is None else bias[dims:])
        batch, num_q, _ = q.shape
        heads = attn.num_heads
        q = q.view(batch, num_q, heads, -1).transpose(1, 2)
        k, v = kv.view(batch, -1, 2, heads, dims // heads).permute(
            2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, num_q, dims)
        return fused_ops.linear(
            out, attn.out_proj.weight, attn.out_proj.bias, residual=identity)


class TokenMixFFN(MixFFN):
    """mmseg's MiT feed-forward block computed on tokens.

    mmseg runs the two 1x1 convolutions as ``Conv2d`` on (N, C, H, W) views
    of the tokens; here they are ``F.linear`` on the (N, L, C) tokens with
    the same weights (several times faster on the CPU for the narrow first
    stages), the depthwise convolution and GELU run as one call, and so do
    the last projection and the residual add (see :mod:`.fused_ops`).
    Not built from configs: :func:`optimize_for_inference` switches the class
    of existing ``MixFFN`` modules to this one. Inference only (no dropout).
    """

    def forward(self, x: Tensor, hw_shape: tuple,
                identity: Optional[Tensor] = None) -> Tensor:
        expand, depthwise, activate, _, project, _ = self.layers
        hidden = fused_ops.linear(x, expand.weight.flatten(1), expand.bias)
        # (N, L, C) tokens are (N, H, W, C) memory: a channels_last view.
        hidden = fused_ops.conv2d(
            nlc_to_nchw(hidden, hw_shape),
            depthwise.weight,
            depthwise.bias,
            padding=depthwise.padding[0],
            groups=depthwise.groups,
            activation=activate)
        return fused_ops.linear(
            nchw_to_nlc(hidden),
            project.weight.flatten(1),
            project.bias,
            residual=x if identity is None else identity)


class FoldedPLDHead(PLDHead):
    """:class:`PLDHead` with BatchNorm folded into the fuse convolutions and
    each fuse split so its 1x1 convolution runs before upsampling.

    Not built from configs: :func:`optimize_for_inference` switches the class
    of an eval-mode ``PLDHead`` to this one and calls :meth:`fold`.
    """

    def fold(self) -> None:
        """Precompute the folded fuse weights from the current parameters
        (as non-persistent buffers: they follow ``.to()``, and state-dict
        keys stay those of ``PLDHead``)."""
        for idx, fuse in enumerate(self.fuse_convs):
            weight = fuse.conv.weight.detach().flatten(1)
            bias = fuse.conv.bias.detach() if fuse.conv.bias is not None \
                else weight.new_zeros(weight.shape[0])
            if fuse.with_norm:
                norm = fuse.norm
                scale = norm.weight.detach() / torch.sqrt(
                    norm.running_var + norm.eps)
                weight = weight * scale[:, None]
                bias = (bias - norm.running_mean) * scale + norm.bias.detach()
            running, stage = weight.split(self.channels, dim=1)
            for name, value in (('running', running[..., None, None]),
                                ('stage', stage[..., None, None]),
                                ('bias', bias)):
                self.register_buffer(f'folded_{name}_{idx}',
                                     value.contiguous(), persistent=False)

    def forward(self, inputs: list) -> Tensor:
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        emphasised = [
            local_emphasis(x)
            for local_emphasis, x in zip(self.local_emphasis, inputs)
        ]
        out = emphasised[-1]
        for idx in range(len(inputs) - 2, -1, -1):
            running, stage, bias = (
                getattr(self, f'folded_{name}_{idx}')
                for name in ('running', 'stage', 'bias'))
            fuse = self.fuse_convs[idx]
            activate = fuse.activate if fuse.with_activation else None
            stage_term = self._at_size(
                fused_ops.conv2d(emphasised[idx], stage, bias), size)
            if out.shape[2:] == size:
                out = fused_ops.conv2d(
                    out, running, activation=activate, residual=stage_term)
            else:
                # Still at a deeper stage's resolution: convolve first.
                out = self._at_size(fused_ops.conv2d(out, running),
                                    size) + stage_term
                if activate is not None:
                    out = activate(out)
        return self.cls_seg(out)

    def _at_size(self, x: Tensor, size: torch.Size) -> Tensor:
        if x.shape[2:] == size:
            return x
        return resize(x, size=size, mode=self.interpolate_mode,
                      align_corners=False)


def _can_fold(head: PLDHead) -> bool:
    """Each fuse is a 1x1 conv, then BatchNorm (or no norm), then the
    activation (GroupNorm, say, cannot be folded)."""
    return all(
        fuse.order == ('conv', 'norm', 'act')
        and (not fuse.with_norm or isinstance(fuse.norm, _BatchNorm))
        and fuse.conv.kernel_size == (1, 1) for fuse in head.fuse_convs)


def _use_fast_modules(model: nn.Module) -> None:
    for module in model.modules():
        if type(module) is EfficientMultiheadAttention:
            module.__class__ = SDPAEfficientMultiheadAttention
        elif type(module) is MixFFN:
            module.__class__ = TokenMixFFN
        elif type(module) is PLDHead and _can_fold(module):
            module.__class__ = FoldedPLDHead
            module.fold()


def _store_weights_in(model: nn.Module, dtype: torch.dtype) -> None:
    """Convolution, linear and attention weights in the autocast dtype.

    Autocast computes these layers with bf16 / fp16 copies of their fp32
    weights and makes the copies again in every forward pass (for
    SSFormer-L, 66 M parameters read and written: a sizeable share of a bf16
    forward on the CPU); stored in that dtype once, they are used as they
    are. Everything autocast keeps in fp32 (normalisation layers, the
    residual stream) stays fp32.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.MultiheadAttention)):
            for param in module.parameters(recurse=False):
                param.data = param.data.to(dtype)


def _reuse_freed_memory() -> None:
    """Have glibc keep freed memory for reuse (process-wide, Linux only).

    By default glibc serves large allocations with fresh ``mmap`` pages and
    hands freed memory back to the kernel, so every forward pass pays page
    faults and zeroing for its large temporaries (Winograd's transformed
    tiles are 18 MB each at 352x352): measured, the PLD head took 75 ms
    instead of 58 ms on our 2-core CPU. Allocations up to 32 MB (glibc's
    maximum threshold) now come from the heap, and up to 1 GB of freed heap
    is kept, the way PyTorch's CUDA caching allocator keeps GPU memory.
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)


def _run_with(function: Callable, device_type: str, dtype: Optional[
        torch.dtype], channels_last: bool, float_output: bool) -> Callable:
    """``function`` under autocast, with a channels_last first argument."""

    @functools.wraps(function)
    def wrapped(inputs, *args, **kwargs):
        if channels_last and isinstance(inputs, Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            out = function(inputs, *args, **kwargs)
        return out.float() if float_output else out

    return wrapped


def optimize_for_inference(model: nn.Module,
                           precision: Optional[str] = None,
                           channels_last: bool = True,
                           compile: bool = False) -> nn.Module:
    """A copy of an mmseg ``EncoderDecoder`` set up for fast inference.

    Every way of running the copy keeps mmseg's semantics:
    ``model(inputs, mode='tensor')``, ``mode='predict'``, ``test_step``,
    ``encode_decode``, slide inference and :class:`PolypTTAModel` (give it
    the optimized model as ``module``). Logits come back in float32.

    Args:
        model (nn.Module): The segmentor (any backbone; the attention and
            PLD rewrites apply where those modules are used). Not modified.
        precision (str, optional): ``'fp32'``, ``'bf16'`` or ``'fp16'``
            autocast. Default: :func:`default_precision` of the model's
            device (fp16 on CUDA, fp32 on CPU).
        channels_last (bool): Use the channels_last memory format.
            Default: True.
        compile (bool): ``torch.compile`` the backbone and head forward
            passes (the first calls compile; each new input shape
            recompiles). Default: False.

    Returns:
        nn.Module: The optimized copy, in eval mode, on the same device.
        ``model.inference_options`` records the settings. With bf16 / fp16
        its convolution and linear weights are stored in that dtype.

    Note:
        Load weights before calling this: the folded and Winograd-transformed
        weights are computed from the weights at the time of the call. On
        the CPU this also tells glibc to keep freed memory for reuse, which
        applies to the whole process (see ``_reuse_freed_memory``).
    """
    device = next(model.parameters()).device
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {sorted(PRECISIONS)}, '
                         f'got {precision!r}')
    if precision == 'fp16' and device.type == 'cpu':
        raise ValueError('fp16 autocast is for CUDA; on CPU use bf16 '
                         '(fast on CPUs with AVX-512 BF16 or AMX) or fp32')
    if precision == 'bf16' and fused_ops.bf16_emulated(device.type):
        warnings.warn(f'{fused_ops.EMULATED_BF16} and less accurate; use '
                      'fp32 here')
    model = copy.deepcopy(model).eval()
    _use_fast_modules(model)
    dtype = PRECISIONS[precision]
    if dtype is not None:
        _store_weights_in(model, dtype)
    elif device.type == 'cpu':
        use_winograd(model)
    if device.type == 'cpu':
        _reuse_freed_memory()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    head = model.decode_head
    extract_feat, head_forward = model.extract_feat, head.forward
    if compile:
        # Freezing: weights become constants, so inductor can pre-pack them
        # for oneDNN and fuse elementwise work into the convolutions.
        options = dict(freezing=True)
        extract_feat = torch.compile(extract_feat, options=options)
        head_forward = torch.compile(head_forward, options=options)
    # Instance attributes shadow the methods that every inference path of
    # EncoderDecoder goes through (extract_feat, then the head's forward).
    model.extract_feat = _run_with(extract_feat, device.type, dtype,
                                   channels_last, float_output=False)
    head.forward = _run_with(head_forward, device.type, dtype, False,
                             float_output=True)
    model.inference_options = dict(
        precision=precision, channels_last=channels_last, compile=compile)
    return model


def add_fast_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """``--fast``, ``--precision`` and ``--compile``, shared by the tools."""
    parser.add_argument(
        '--fast',
        action='store_true',
        help='run the model through optimize_for_inference (fused attention '
        'and kernels, folded PLD head, Winograd 3x3 convolutions on the CPU, '
        'channels_last; fp32 outputs equal eager to 1e-4)')
    parser.add_argument(
        '--precision',
        choices=sorted(PRECISIONS),
        help='autocast precision of --fast (implies it); default fp16 on '
        'CUDA, fp32 on CPU')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also torch.compile the model (implies --fast; the first '
        'batches compile, about a minute on a 2-core CPU)')


def fast_inference_options(args: argparse.Namespace) -> Optional[dict]:
    """Keyword arguments of :func:`optimize_for_inference` from the options
    of :func:`add_fast_inference_arguments`, or None without ``--fast``."""
    if not (args.fast or args.precision or args.compile):
        return None
    return dict(precision=args.precision, compile=args.compile)
