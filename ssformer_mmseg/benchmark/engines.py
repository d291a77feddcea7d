"""Engine comparison (``--engines``): the same network in every runtime the
project deploys to, timed in one process on the same frames.

Rows: plain PyTorch eager fp32 (the baseline), the PyTorch fast path
(:func:`~ssformer_mmseg.optimize.optimize_for_inference`) in fp32 and bf16,
ONNX Runtime fp32 and int8, OpenVINO fp32, bf16 and int8. bf16 rows run only
where this CPU has native bf16; the rows of an engine whose package is
missing are skipped with the reason (the pip command). Each row is timed at
batch-1 latency and at throughput over ``throughput_batch`` frames: one
batch for PyTorch and ONNX Runtime, one request per frame, all in flight
(``PERFORMANCE_HINT`` THROUGHPUT), for OpenVINO. All calls run round-robin
in the same rounds, so a busy machine slows every row alike, and each ratio
to eager fp32 is the median of per-round ratios. Memory: what a row keeps
allocated between calls (weights, compiled model, the engine's arenas:
resident memory growth over its building and first calls; eager fp32: its
weights) and the extra peak of one call (what PyTorch allocates per call;
the engines reuse their arenas).

Every row computes what the backends give
:class:`~ssformer_mmseg.apis.PolypSegmenter`: logits at the network input
size from the normalised batch (:meth:`~ssformer_mmseg.apis.backends.
InferenceBackend.logits`). Its error is the largest logit and probability
difference from eager fp32 on the timed frames. The engines run the
model's ONNX export; int8 is NNCF's post-training quantization, calibrated
on real training frames when the config's ``data_root`` exists (the timed
frames are other training frames) and on random frames otherwise (the
report says which). The recommendation is the fastest row whose
probabilities stay within ``prob_tolerance`` of eager fp32; the accuracy
that counts for a deployment is the meanDic report of ``tools/deploy.py``.
"""
import os
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.structures import SegDataSample

from .. import __version__
from ..apis import optional
from ..apis.backends import (Calibration, InferenceBackend, PyTorchBackend,
                             build_backend, deployable_backends)
from ..apis.segmenter import PolypSegmenter
from ..cpu_features import onednn_bf16_supported
from ..deploy import calibration as calib
from ..optimize import optimize_for_inference
from .measure import (interleaved_times, peak_memory_mb, resident_growth_mb,
                      summarize)
from .options import BenchmarkOptions

#: The baseline row.
BASELINE = 'eager fp32'
#: Packages the ONNX export the engine rows run needs.
EXPORT_REQUIRES = ('onnx', 'onnxscript', 'onnxruntime')
#: (height, width).
Shape = Tuple[int, int]


@dataclass
class Variant:
    """One row: a runtime at one precision.

    Attributes:
        name (str): ``'openvino int8'``, ...
        engine (str): The backend's name (``'pytorch'``, ``'openvino'``,
            ...).
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'``.
        latency (InferenceBackend): What runs one frame.
        throughput (InferenceBackend): What runs the throughput frames (the
            same object where one call runs a batch).
        held_mb (float): Resident memory the row keeps between calls.
    """
    name: str
    engine: str
    precision: str
    latency: InferenceBackend
    throughput: InferenceBackend
    held_mb: float = 0.0


def engine_versions() -> Dict[str, Optional[str]]:
    """Versions of torch, the export's and every engine's packages (None:
    not installed)."""
    modules = ['torch', *EXPORT_REQUIRES]
    for engine in deployable_backends().values():
        modules += engine.REQUIRES + engine.QUANTIZATION_REQUIRES
    return dict(
        ssformer_mmseg=__version__,
        **optional.installed_versions(list(dict.fromkeys(modules))))


def _missing(*modules: str) -> Optional[str]:
    """Why ``modules`` cannot all be imported (the first failure's message
    with its pip command), or None if they can."""
    for module in modules:
        # By the real name: tests fake a missing package under another.
        hint = optional.INSTALL_HINTS.get(module, optional.ONNX_HINT)
        try:
            optional.require(module, 'these rows', hint)
        except ImportError as error:
            return str(error)
    return None


def _samples(batch: int, shape: Shape) -> List[SegDataSample]:
    """Data samples of network-size frames (what the PyTorch backend reads:
    the size to return logits at)."""
    meta = dict(img_shape=shape, pad_shape=shape, ori_shape=shape)
    return [SegDataSample(metainfo=meta) for _ in range(batch)]


#: The timed modes: one frame at a time, and the whole batch.
MODES = ('latency', 'throughput')


def _at_shape(inputs: List[np.ndarray], shape: Shape) -> List[np.ndarray]:
    """Network inputs resized (bilinear) to ``shape`` where the config's test
    pipeline makes another size; resizing commutes with the per-channel
    normalisation, so this is the frame resized to ``shape``."""
    return [
        x if tuple(x.shape[2:]) == tuple(shape) else F.interpolate(
            torch.from_numpy(x),
            size=shape,
            mode='bilinear',
            align_corners=False).numpy() for x in inputs
    ]


def benchmark_frames(
        cfg: Config, segmenter: PolypSegmenter, options: BenchmarkOptions
) -> Tuple[torch.Tensor, List[np.ndarray], dict]:
    """The timed batch and the int8 calibration inputs.

    Real training frames when the config's ``data_root`` is a folder: the
    ``throughput_batch`` timed frames, and calibration frames chosen from
    the rest (seeded). Otherwise random frames for both.

    Returns:
        tuple: The (N, 3, H, W) timed batch, the (1, 3, H, W) calibration
        inputs and a description of where they come from.

    Raises:
        ValueError, FileNotFoundError: What reading the training split
            raises when ``data_root`` is a folder without it (a data root
            that was given never falls back to random frames).
    """
    count = options.throughput_batch
    shape = tuple(options.shape)
    if calib.has_data_root(cfg):
        timed = calib.training_frames(cfg, count, options.seed + 1)
        # A split with no frame beyond the timed ones calibrates on them.
        calibration = calib.training_frames(
            cfg, options.calib_count, options.seed,
            timed.images if timed.available > len(timed.images) else ())
        inputs = _at_shape(
            calib.network_inputs(timed, segmenter.preprocess), shape)
        source = dict(
            calibration.summary(),
            timed_frames=len(timed.images),
            overlap=len(set(timed.images) & set(calibration.images)))
        calibration_inputs = _at_shape(
            calib.network_inputs(calibration, segmenter.preprocess), shape)
    else:
        rng = np.random.default_rng(options.seed)

        def random_inputs(number: int) -> List[np.ndarray]:
            frames = rng.integers(0, 256, (number, *shape, 3), dtype=np.uint8)
            return _at_shape([
                segmenter.preprocess([f])['inputs'].float().numpy()
                for f in frames
            ], shape)

        inputs = random_inputs(count)
        calibration_inputs = random_inputs(options.calib_count)
        source = dict(
            source='random frames',
            description=f'data_root {cfg.get("data_root")!r} is not a '
            'folder: random uniform frames, not real ones',
            seed=options.seed,
            count=options.calib_count,
            timed_frames=count)
    return (torch.from_numpy(np.concatenate(inputs)), calibration_inputs,
            source)


def _prepared(name: str, engine: str, precision: str,
              build: Callable[[], Tuple[InferenceBackend, InferenceBackend]],
              inputs: torch.Tensor) -> Variant:
    """Build a row and run it once in each mode, measuring the memory that
    stays allocated: a row's working memory is allocated by its first calls
    (the engines keep theirs between calls)."""

    def prepare() -> Tuple[InferenceBackend, InferenceBackend]:
        latency, throughput = build()
        _call(latency, inputs[:1])()
        _call(throughput, inputs)()
        return latency, throughput

    (latency, throughput), held = resident_growth_mb(prepare)
    return Variant(name, engine, precision, latency, throughput, held)


def _pytorch_variants(model: torch.nn.Module, inputs: torch.Tensor,
                      options: BenchmarkOptions,
                      skipped: List[dict]) -> List[Variant]:
    eager = PyTorchBackend(model, 'cpu', 'fp32')
    # Built before the benchmark started: what it holds is its weights.
    weights = sum(t.numel() * t.element_size()
                  for t in (*model.parameters(), *model.buffers()))
    variants = [
        Variant(BASELINE, eager.name, 'fp32', eager, eager, weights / 2**20)
    ]
    for precision in ('fp32', 'bf16'):
        name = f'pytorch fast {precision}'
        if precision == 'bf16' and not onednn_bf16_supported():
            skipped.append(
                dict(name=name, reason='bf16 is not native on this CPU'))
            continue
        options.log(f'preparing {name}')

        def build(precision: str = precision) -> tuple:
            fast = PyTorchBackend(
                optimize_for_inference(model, precision), 'cpu', precision)
            return fast, fast

        variants.append(
            _prepared(name, PyTorchBackend.name, precision, build, inputs))
    return variants


def _engine_variants(cfg: Config, model: torch.nn.Module, inputs: torch.Tensor,
                     calibration: List[np.ndarray], work_dir: str,
                     options: BenchmarkOptions,
                     skipped: List[dict]) -> List[Variant]:
    """The rows of every backend that runs a model file, at each of its
    precisions, on the model file it writes from the model's ONNX export
    (as ``tools/deploy.py`` does; int8: NNCF's post-training
    quantization), each row skipped with the reason where a package is
    missing or the precision is not native here."""
    from ..apis.onnx_export import export_checked
    engines = selected_engines(options.backends)
    export_missing = _missing(*EXPORT_REQUIRES)
    if export_missing:
        for name, engine in engines.items():
            skipped += [
                dict(
                    name=f'{name} {p}',
                    reason=f'the ONNX export they run: {export_missing}')
                for p in engine.PRECISIONS
            ]
        return []
    onnx_file = osp.join(work_dir, 'model.onnx')
    options.log(f'exporting ONNX at {options.shape[0]}x{options.shape[1]}')
    export = export_checked(model, onnx_file, shape=tuple(options.shape))
    if not export.ok:
        raise RuntimeError(f'the ONNX export differs from PyTorch by '
                           f'{export.worst:.2e}; not timing it')
    variants = []
    for name, engine, precision, row in runnable_rows(
            engines, skipped, lambda name, precision: f'{name} {precision}'):
        options.log(f'preparing {row}')
        model_file = _written(engine, onnx_file, precision, calibration,
                              osp.join(work_dir, f'{name}_{precision}'))

        def build(name: str = name,
                  engine=engine,
                  precision: str = precision,
                  model_file: str = model_file) -> tuple:
            latency = build_backend(
                name, cfg, model_file=model_file, precision=precision)
            if not engine.HAS_THROUGHPUT_MODE:  # one call runs a batch
                return latency, latency
            return latency, build_backend(
                name,
                cfg,
                model_file=model_file,
                precision=precision,
                throughput=True)

        variants.append(_prepared(row, name, precision, build, inputs))
    return variants


def runnable_rows(
    engines: dict,
    skipped: List[dict],
    row_name: Callable[[str, str], str],
    other_reason: Callable[[str], Optional[str]] = lambda precision: None
) -> Iterator[Tuple[str, type, str, str]]:
    """``(engine name, backend class, precision, row name)`` of each
    engine's precisions that run here; the others are added to ``skipped``
    with the reason: a missing package (with its pip command), a precision
    not native on this CPU, or ``other_reason(precision)``."""
    for name, engine in engines.items():
        missing = engine.missing()
        supported = () if missing else engine.supported_precisions()
        for precision in engine.PRECISIONS:
            row = row_name(name, precision)
            reason = missing or engine.missing(precision)
            if reason is None and precision not in supported:
                reason = f'{precision} is not native on this CPU'
            if reason is None:
                reason = other_reason(precision)
            if reason is not None:
                skipped.append(dict(name=row, reason=reason))
                continue
            yield name, engine, precision, row


def selected_engines(names: Optional[List[str]] = None) -> dict:
    """The backends (name -> class) whose rows are timed: ``names``, or
    every backend that runs a model file.

    Raises:
        ValueError: For a name that is not such a backend.
    """
    engines = deployable_backends()
    if names is None:
        return engines
    unknown = [name for name in names if name not in engines]
    if unknown:
        raise ValueError(f'no engine rows for {", ".join(unknown)}; the '
                         'backends that run a model file here are '
                         f'{", ".join(engines)}')
    return {name: engines[name] for name in names}


def _written(engine, onnx_file: str, precision: str,
             calibration: List[np.ndarray], out_dir: str) -> str:
    """The engine's model file for ``precision`` written from
    ``onnx_file`` into ``out_dir`` (int8 calibrated on ``calibration``)."""
    os.makedirs(out_dir)
    written = engine.write_model(
        onnx_file, out_dir, precision,
        Calibration(calibration) if precision == 'int8' else None)
    return osp.join(out_dir, written.files[0])


def _errors(variant: Variant, inputs: torch.Tensor,
            references: Tuple[torch.Tensor, torch.Tensor]) -> dict:
    """Largest logit and probability differences from eager fp32 over the
    latency call (first frame) and the throughput call (all frames)."""
    logit, prob = 0.0, 0.0
    for backend, batch, reference in ((variant.latency, inputs[:1],
                                       references[0]),
                                      (variant.throughput, inputs,
                                       references[1])):
        out = backend.logits(batch, _samples(len(batch),
                                             batch.shape[2:])).float()
        logit = max(logit, (out - reference).abs().max().item())
        prob = max(prob,
                   (out.sigmoid() - reference.sigmoid()).abs().max().item())
    return dict(max_abs_logit_diff=logit, max_abs_prob_diff=prob)


def _key(name: str, mode: str) -> str:
    return f'{name} ({mode})'


def _call(backend: InferenceBackend, batch: torch.Tensor) -> Callable:
    samples = _samples(len(batch), tuple(batch.shape[2:]))
    return lambda: backend.logits(batch, samples)


def recommend(rows: List[dict], mode: str, tolerance: float) -> Optional[str]:
    """The fastest row in ``mode`` (``'latency'`` or ``'throughput'``) whose
    max |Δprob| from eager fp32 is within ``tolerance`` (None if none)."""
    fit = [r for r in rows if r['max_abs_prob_diff'] <= tolerance]
    if not fit:
        return None
    return max(fit, key=lambda r: r[mode]['speedup'])['name']


def _timed_rows(variants: list, inputs: torch.Tensor,
                options: BenchmarkOptions) -> List[dict]:
    """Time every variant at one frame (latency) and at the whole batch
    (throughput), interleaved, and measure its memory and its errors
    against the first (eager fp32)."""
    batch = len(inputs)
    modes = dict(zip(MODES, (inputs[:1], inputs)))
    calls = {
        _key(v.name, mode): _call(getattr(v, mode), x)
        for v in variants for mode, x in modes.items()
    }
    options.log(f'timing {len(variants)} rows at 1 and {batch} frames x '
                f'{options.rounds} rounds')
    times = interleaved_times(calls, 'cpu', options.warmup, options.rounds,
                              options.log)
    eager = variants[0].latency
    references = tuple(_call(eager, x)().float() for x in (inputs[:1], inputs))
    rows = []
    summaries = {
        mode: summarize({v.name: times[_key(v.name, mode)]
                         for v in variants}, len(x))
        for mode, x in modes.items()
    }
    for variant in variants:
        row = dict(
            name=variant.name,
            engine=variant.engine,
            precision=variant.precision,
            held_mb=variant.held_mb)
        for mode in modes:
            row[mode] = dict(
                summaries[mode][variant.name],
                batch=len(modes[mode]),
                peak_mb=peak_memory_mb(calls[_key(variant.name, mode)], 'cpu'))
        row.update(_errors(variant, inputs, references))
        rows.append(row)
    return rows


def benchmark_engines(cfg: Config,
                      model: torch.nn.Module,
                      options: BenchmarkOptions,
                      trained: bool = False) -> dict:
    """Time every engine and precision that runs here against eager fp32.

    Args:
        cfg (Config): The model's config (its preprocessing and data).
        model (nn.Module): The segmentor on the CPU, in eval mode; every
            row runs its weights.
        options (BenchmarkOptions): Shape, ``throughput_batch``,
            ``calib_count``, ``seed``, ``prob_tolerance``, warm-up, rounds.
        trained (bool): Whether the weights are trained (the report says
            that the errors of random weights are not a trained model's).

    Returns:
        dict: ``rows`` (per row: name, engine, precision, ``held_mb`` (the
        resident memory it keeps between calls), ``latency`` and
        ``throughput`` timings with the ratio to eager fp32 and the peak
        extra memory of a call, max |Δlogit| and max |Δprob|), ``skipped``
        (name and reason), ``recommended`` (per mode), ``inputs`` (where the
        timed and calibration frames come from), ``versions`` and the
        settings.

    Raises:
        ValueError: For a device other than the CPU.
    """
    if options.device != 'cpu':
        raise ValueError('the engine comparison runs on the CPU (--device '
                         'cpu)')
    selected_engines(options.backends)  # refuse unknown names before work
    skipped: List[dict] = []
    segmenter = PolypSegmenter(cfg, backend=PyTorchBackend(model))
    inputs, calibration, source = benchmark_frames(cfg, segmenter, options)
    options.log(f'timed frames and int8 calibration: {source["source"]} '
                f'({source["description"]})')
    with tempfile.TemporaryDirectory() as work_dir, torch.no_grad():
        variants = _pytorch_variants(model, inputs, options, skipped)
        variants += _engine_variants(cfg, model, inputs, calibration, work_dir,
                                     options, skipped)
        for entry in skipped:
            options.log(f'skipped {entry["name"]}: {entry["reason"]}')
        rows = _timed_rows(variants, inputs, options)
    tolerance = options.prob_tolerance
    return dict(
        rows=rows,
        skipped=skipped,
        recommended={mode: recommend(rows, mode, tolerance)
                     for mode in MODES},
        prob_tolerance=tolerance,
        throughput_batch=len(inputs),
        trained_weights=trained,
        inputs=source,
        versions=engine_versions())
