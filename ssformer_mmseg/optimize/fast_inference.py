"""One switch for fast inference: :func:`optimize_for_inference`.

The model stays an mmseg segmentor (same modules, parameters, state-dict
keys, ``dataset_meta``, ``test_step``); what changes is how it computes:

* **Attention.** mmseg's MiT attention calls ``nn.MultiheadAttention`` with
  ``need_weights=True`` (its default), which builds and head-averages the full
  attention matrix and so never takes PyTorch's fused path. Here it runs
  through ``F.scaled_dot_product_attention`` with the same weights
  (:mod:`.mit_modules`).
* **PLD head.** BatchNorm folded into the fuse convolutions, each fuse's
  1x1 convolution run before upsampling
  (:class:`~ssformer_mmseg.models.decode_heads.folded_pld_head.FoldedPLDHead`).
* **MiT feed-forward.** Its 1x1 convolutions run as ``F.linear`` on the
  tokens (:class:`TokenMixFFN`).
* **Fused kernels (CPU).** Depthwise convolution + GELU, projection +
  residual (bf16 only) and full-resolution fuse convolution + add + ReLU
  each run as one oneDNN primitive (:mod:`ssformer_mmseg.ops.fused_ops`).
* **Winograd (CPU, fp32).** Dense 3x3 convolutions (the PLD's Local
  Emphasis) use Winograd F(4x4, 3x3): a quarter of the multiplications
  (:mod:`ssformer_mmseg.ops.winograd`).
* **Memory format.** ``channels_last`` weights and inputs, the layout oneDNN
  (CPU) and cuDNN tensor cores prefer for convolutions.
* **Precision.** bf16 / fp16 autocast around the backbone and the head; the
  head's logits are returned in float32, so resizing, sigmoid and metrics
  run as before.
* **torch.compile** (optional) of the backbone and head forward passes.

All but the precision are exact up to float rounding (fp32 logits within
1e-4 of the eager model, tested); bf16 / fp16 are not, and their accuracy
cost is measured in ``docs/speed_and_deployment.md``.
"""
import copy
import ctypes
import functools
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn
from mmseg.models.backbones.mit import EfficientMultiheadAttention, MixFFN
from torch import Tensor

from ..cpu_features import EMULATED_BF16, bf16_emulated
from ..models.decode_heads.folded_pld_head import FoldedPLDHead, can_fold
from ..models.decode_heads.pld_head import PLDHead
from ..ops.winograd import use_winograd
from .mit_modules import SDPAEfficientMultiheadAttention, TokenMixFFN

PRECISIONS = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


def default_precision(device: torch.device) -> str:
    """``'fp16'`` on CUDA, ``'fp32'`` elsewhere.

    bf16 on CPU is opt-in: it is fast only on CPUs with native bf16 (AVX-512
    BF16 / AMX), and it changes the outputs slightly.
    """
    return 'fp16' if torch.device(device).type == 'cuda' else 'fp32'


def _use_fast_modules(model: nn.Module) -> None:
    for module in model.modules():
        if type(module) is EfficientMultiheadAttention:
            module.__class__ = SDPAEfficientMultiheadAttention
        elif type(module) is MixFFN:
            module.__class__ = TokenMixFFN
        elif type(module) is PLDHead and can_fold(module):
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


def _run_with(function: Callable, device_type: str,
              dtype: Optional[torch.dtype], channels_last: bool,
              float_output: bool) -> Callable:
    """``function`` under autocast, with a channels_last first argument."""

    @functools.wraps(function)
    def wrapped(inputs, *args, **kwargs):
        if channels_last and isinstance(inputs, Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
                device_type,
                dtype=dtype or torch.float32,
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
    if precision == 'bf16' and bf16_emulated(device.type):
        warnings.warn(f'{EMULATED_BF16} and less accurate; use '
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
    model.extract_feat = _run_with(
        extract_feat, device.type, dtype, channels_last, float_output=False)
    head.forward = _run_with(
        head_forward, device.type, dtype, False, float_output=True)
    model.inference_options = dict(
        precision=precision, channels_last=channels_last, compile=compile)
    return model
