"""ONNX export of the network and its parity check against PyTorch.

The graph takes the normalised RGB batch the model's ``data_preprocessor``
makes and returns logits and probabilities at the input size
(:class:`LogitsAtInputSize`); resizing to each frame's size stays outside,
in :func:`~ssformer_mmseg.apis.postprocess.logits_to_probs`.
``onnx``, ``onnxscript`` and ``onnxruntime`` are optional and imported only
here and in the ONNX Runtime backend (``pip install -e ".[onnx]"``).
"""
import logging
import os
import os.path as osp
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmseg.models.utils import resize

from .onnx_file import (ONNX_INPUT, ONNX_LOGITS, ONNX_OUTPUTS, ONNX_PROBS,
                        onnx_session)
from .optional import require


class LogitsAtInputSize(nn.Module):
    """The exported network: normalised RGB batch -> logits and probabilities.

    ``logits = resize(model(x, mode='tensor'), x.shape[2:], bilinear,
    align_corners=head.align_corners)``, i.e. the head's 1/4-scale logits
    with SSFormer's own x4 upsampling (``align_corners=True``); this is what
    mmseg's ``encode_decode`` returns in ``whole`` test mode. ``probs`` is
    their sigmoid, for consumers that work at the network size. Resizing to
    the frame's own size stays outside the graph: it must be applied to the
    logits (as mmseg does), and every frame has its own size.

    Args:
        model (nn.Module): An mmseg ``EncoderDecoder`` in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.align_corners = bool(model.align_corners)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        logits = self.model(inputs, mode='tensor')
        logits = resize(
            logits,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners,
            warning=False)
        return logits, logits.sigmoid()


def export_onnx(model: nn.Module,
                out_file: str,
                shape: Tuple[int, int] = (352, 352),
                opset: int = 17,
                dynamic_batch: bool = True,
                dynamic_hw: bool = False,
                exporter: str = 'dynamo') -> None:
    """Export :class:`LogitsAtInputSize` of ``model`` to ONNX.

    Input ``input`` (N, 3, H, W) float32, normalised RGB as the model's
    ``data_preprocessor`` gives it; outputs ``logits`` and ``probs``
    (N, 1, H, W). The weights are stored inside the file.

    Args:
        model (nn.Module): The segmentor, on CPU.
        out_file (str): The ``.onnx`` file to write.
        shape (tuple[int, int]): Input (height, width).
        opset (int): ONNX opset. The dynamo exporter implements opset 18+
            and converts down to lower requests with ONNX's converter.
        dynamic_batch (bool): Leave the batch dimension free.
        dynamic_hw (bool): Leave height and width free too (dynamo only).
        exporter (str): ``'dynamo'`` (``torch.export``, PyTorch's default
            since 2.9; needs onnxscript) or ``'torchscript'`` (the legacy
            tracer, deprecated in PyTorch 2.9+, for older PyTorch).
    """
    require('onnx')
    wrapper = LogitsAtInputSize(model).eval()
    dummy = torch.randn(2 if dynamic_batch else 1, 3, *shape)
    names = dict(input_names=[ONNX_INPUT], output_names=list(ONNX_OUTPUTS))
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    if exporter == 'dynamo':
        require('onnxscript')
        dims = {}
        if dynamic_batch:
            dims[0] = torch.export.Dim('batch', min=1, max=4096)
        if dynamic_hw:
            dims[2] = dims[3] = torch.export.Dim.AUTO
        torch.onnx.export(
            wrapper,
            (dummy, ),
            out_file,
            dynamo=True,
            opset_version=opset,
            dynamic_shapes={'inputs': dims} if dims else None,
            external_data=False,  # one self-contained file
            verbose=False,
            **names)
    elif exporter == 'torchscript':
        if dynamic_hw:
            raise ValueError('dynamic height/width needs the dynamo exporter '
                             '(the tracer freezes the resize sizes)')
        axes = {name: {0: 'batch'} for name in (ONNX_INPUT, *ONNX_OUTPUTS)}
        kwargs = dict(
            opset_version=opset,
            dynamic_axes=axes if dynamic_batch else None,
            **names)
        if 'dynamo' in torch.onnx.export.__code__.co_varnames:
            kwargs['dynamo'] = False
        with torch.no_grad():
            torch.onnx.export(wrapper, (dummy, ), out_file, **kwargs)
    else:
        raise ValueError(f'unknown exporter {exporter!r}; '
                         "use 'dynamo' or 'torchscript'")


def onnx_opset(onnx_file: str) -> int:
    """The default-domain opset an ONNX file was written with."""
    onnx = require('onnx')
    proto = onnx.load(onnx_file, load_external_data=False)
    return next(
        o.version for o in proto.opset_import if o.domain in ('', 'ai.onnx'))


def onnx_parity(model: nn.Module,
                onnx_file: str,
                shape: Tuple[int, int] = (352, 352),
                batch_size: int = 2,
                seed: int = 0) -> Dict[str, float]:
    """Max |ONNX Runtime - PyTorch| on a random normalised batch, per output.

    Args:
        model (nn.Module): The segmentor the file was exported from (CPU).
        onnx_file (str): The exported file.
        shape (tuple[int, int]): Input (height, width).
        batch_size (int): Batch size of the check (2 exercises a dynamic
            batch dimension; use 1 for a fixed-batch export).
        seed (int): Seed of the random input.

    Returns:
        dict: ``logits`` and ``probs``: max absolute differences;
        ``logits_rel``: the logits' max difference over
        ``max(1, max |PyTorch logit|)``. Logits of a trained model span
        tens, and float32 rounding grows with that scale everywhere in the
        map (PyTorch float32 itself is ~1e-4 off float64 there, as far as
        ONNX Runtime is off PyTorch), so logits are judged relative to
        their range; probabilities are in [0, 1] and judged absolutely.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, 3, *shape, generator=generator)
    with torch.no_grad():
        expected = [
            out.numpy() for out in LogitsAtInputSize(model).eval()(inputs)
        ]
    got = onnx_session(onnx_file).run(
        list(ONNX_OUTPUTS), {ONNX_INPUT: inputs.numpy()})
    diffs = {
        name: np.abs(out - ref)
        for name, out, ref in zip(ONNX_OUTPUTS, got, expected)
    }
    return dict(
        logits=float(diffs[ONNX_LOGITS].max()),
        logits_rel=float(diffs[ONNX_LOGITS].max() /
                         max(1.0, float(np.abs(expected[0]).max()))),
        probs=float(diffs[ONNX_PROBS].max()))


@dataclass
class ExportReport:
    """What :func:`export_checked` wrote and measured."""
    path: str
    seconds: float
    size_mib: float
    opset: int
    tolerance: float
    #: ((height, width), :func:`onnx_parity` result) per checked size.
    parity: List[Tuple[Tuple[int, int],
                       Dict[str, float]]] = field(default_factory=list)

    @property
    def worst(self) -> float:
        """The largest checked difference: probabilities absolutely, logits
        relative to their range (float32 itself is only good to ~1e-4 on
        logits of tens)."""
        return max((max(d['probs'], d['logits_rel']) for _, d in self.parity),
                   default=0.0)

    @property
    def ok(self) -> bool:
        """Whether ONNX Runtime matches PyTorch within the tolerance."""
        return self.worst <= self.tolerance


def require_export_packages(exporter: str = 'dynamo') -> None:
    """Import what an export and its parity check need, or raise the
    ImportError of :func:`~.optional.require` naming the first missing."""
    modules = ['onnx', 'onnxruntime']
    if exporter == 'dynamo':
        modules.append('onnxscript')
    for module in modules:
        require(module)


def export_checked(model: nn.Module,
                   out_file: str,
                   shape: Tuple[int, int] = (352, 352),
                   opset: int = 17,
                   dynamic_batch: bool = True,
                   dynamic_hw: bool = False,
                   exporter: str = 'dynamo',
                   tolerance: float = 1e-4) -> ExportReport:
    """:func:`export_onnx` without the exporters' chatter, then
    :func:`onnx_parity` on random batches (at a second size too when the
    height and width are free).

    Raises:
        ImportError: Before exporting, if onnx, onnxruntime or (for the
            dynamo exporter) onnxscript is missing.
    """
    require_export_packages(exporter)
    # The exporters log every step and every op they leave unfolded; the
    # report and the parity check say what matters.
    for name in ('onnxscript', 'torch.onnx'):
        logging.getLogger(name).setLevel(logging.ERROR)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The tracer's and torch.export's notes on Python-side shape
        # arithmetic are expected for a fixed graph; the parity check is
        # what decides whether the export is right.
        for category in (UserWarning, DeprecationWarning, FutureWarning):
            warnings.simplefilter('ignore', category=category)
        export_onnx(
            model,
            out_file,
            shape=shape,
            opset=opset,
            dynamic_batch=dynamic_batch,
            dynamic_hw=dynamic_hw,
            exporter=exporter)
    report = ExportReport(out_file,
                          time.perf_counter() - start,
                          os.path.getsize(out_file) / 2**20,
                          onnx_opset(out_file), tolerance)
    shapes = [tuple(shape)]
    if dynamic_hw:  # prove the free size on a second one too
        shapes.append((shape[0] - 32, shape[1] + 32))
    for check_shape in shapes:
        report.parity.append((check_shape,
                              onnx_parity(
                                  model,
                                  out_file,
                                  shape=check_shape,
                                  batch_size=2 if dynamic_batch else 1)))
    return report
