"""Command-line options shared by the tools under ``tools/``.

Each tool parses its own arguments; the options that several tools share,
and how they turn into a config or keyword arguments, are defined once here.
"""
import argparse
import os
import sys
from typing import Callable, List, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar

from .config import load_config, set_work_dir
from .datasets.image_io import (DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV,
                                set_max_pixels)
from .engine.distributed import use_cpu_ddp_wrapper
from .optimize import PRECISIONS
from .packaged import ConfigNotFoundError, find_config


def config_argument(value: str) -> str:
    """argparse ``type`` of a config argument: a path, or a packaged config
    by name (:func:`~ssformer_mmseg.packaged.find_config`)."""
    try:
        return find_config(value)
    except ConfigNotFoundError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_config_argument(parser: argparse.ArgumentParser,
                        help: str = 'config file',
                        name: str = 'config',
                        **kwargs) -> None:
    """A tool's config argument (positional ``config`` unless ``name`` says
    otherwise): a file, or a packaged config by name
    (``ssformer_s_kvasir``; ``ssformer-mmseg configs`` lists them).
    ``kwargs`` go to ``add_argument``."""
    parser.add_argument(
        name,
        type=config_argument,
        help=f'{help}: a path, or a packaged config by name (see '
        '"ssformer-mmseg configs")',
        **kwargs)


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options key=value ...``, with ``data_root=DIR`` moving every
    dataset of the config (see :func:`~ssformer_mmseg.config.load_config`)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs; data_root=DIR '
        'moves every dataset of the config')


class _SetMaxPixels(argparse.Action):
    """Applies ``--max-pixels`` as it is parsed (the environment variable
    reaches DataLoader workers and subprocesses too)."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value < 1:
            parser.error(f'{option_string} must be positive, got {value}')
        set_max_pixels(value)
        setattr(namespace, self.dest, value)


def add_max_pixels_argument(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N``: the largest image or video frame (width x
    height) the tool decodes; checked from the file's header before any
    pixel is decoded. Sets ``$SSFORMER_MAX_PIXELS``."""
    parser.add_argument(
        '--max-pixels',
        type=int,
        action=_SetMaxPixels,
        help='largest image or video frame to decode, in pixels (default: '
        f'${MAX_PIXELS_ENV} or {DEFAULT_MAX_PIXELS:,}); larger files are '
        'refused from their header')


def add_threshold_argument(parser: argparse.ArgumentParser) -> None:
    """``--threshold T``: the threshold of mDice / mIoU when scoring maps."""
    parser.add_argument(
        '--threshold',
        type=float,
        default=0.5,
        help='threshold of mDice / mIoU (default: 0.5)')


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bootstrap-resamples N`` and ``--bootstrap-seed S``: the
    confidence intervals of every reported score
    (:mod:`~ssformer_mmseg.evaluation.intervals`)."""
    from .evaluation.intervals import BootstrapSettings
    default = BootstrapSettings()
    parser.add_argument(
        '--bootstrap-resamples',
        type=_resamples,
        default=default.resamples,
        metavar='N',
        help='resamples of the 95%% bootstrap intervals over images (BCa, '
        f'scipy.stats.bootstrap; default: {default.resamples}; 0: no '
        'intervals)')
    parser.add_argument(
        '--bootstrap-seed',
        type=int,
        default=default.seed,
        metavar='S',
        help=f'seed of the resampling (default: {default.seed})')


def _resamples(value: str) -> int:
    resamples = int(value)
    if resamples < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {value}')
    return resamples


def positive_seconds(value: str) -> float:
    """An argparse type: a duration in seconds above 0."""
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f'must be > 0 seconds, got {value}')
    return seconds


def bootstrap_settings(args: argparse.Namespace):
    """The :class:`~ssformer_mmseg.evaluation.intervals.BootstrapSettings`
    of :func:`add_bootstrap_arguments`' options."""
    from .evaluation.intervals import BootstrapSettings
    return BootstrapSettings(
        resamples=args.bootstrap_resamples, seed=args.bootstrap_seed)


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options ``tools/train.py`` and ``tools/test.py`` share:
    ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--local-rank``."""
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    add_cfg_options_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_max_pixels_argument(parser)


def runner_config(args: argparse.Namespace) -> Config:
    """The config of a Runner, from the options of
    :func:`add_runner_arguments` and ``args.config``."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    use_cpu_ddp_wrapper(cfg)
    return cfg


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
    """Keyword arguments of
    :func:`~ssformer_mmseg.optimize.optimize_for_inference` from the options
    of :func:`add_fast_inference_arguments`, or None without ``--fast``."""
    if not (args.fast or args.precision or args.compile):
        return None
    return dict(precision=args.precision, compile=args.compile)


def _flag(option: str, args: argparse.Namespace) -> str:
    """The flag that gave a backend option, for messages."""
    if option == 'fast':
        return '--fast' if args.fast else '--compile'
    if option == 'model_file':
        return '--onnx' if args.onnx else '--model-file'
    return option


def _engine_names() -> Tuple[str, ...]:
    from .apis.backends import deployable_backends
    return tuple(deployable_backends())


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say what segments, shared by the inference tools:
    ``--device``, ``--threshold``, ``--backend``, ``--onnx``,
    ``--model-file``, ``--throughput`` and the fast-path options (the
    model itself is each tool's positional arguments)."""
    from .apis.backends import BACKENDS
    parser.add_argument(
        '--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument(
        '--threshold',
        type=float,
        default=None,
        help='foreground if probability > T (default: the head\'s, 0.5)')
    parser.add_argument(
        '--backend', choices=sorted(BACKENDS), default='pytorch')
    parser.add_argument(
        '--onnx',
        help='ONNX file for --backend onnxruntime '
        '(tools/export_onnx.py)')
    parser.add_argument(
        '--model-file',
        help='the engine\'s model file (ONNX, or OpenVINO IR .xml) for '
        '--backend onnxruntime / openvino')
    parser.add_argument(
        '--throughput',
        action='store_true',
        help='engines: several frames in flight (OpenVINO\'s THROUGHPUT '
        'hint, one request per frame of a --batch-size batch) for frames/s '
        'over latency')
    add_fast_inference_arguments(parser)
    add_max_pixels_argument(parser)


def check_auth_argument(parser: argparse.ArgumentParser,
                        args: argparse.Namespace) -> None:
    """Turn ``args.auth`` (``USER:PASS`` or None) into ``(user, password)``,
    or refuse it (``parser.error``); the web app and the live stream."""
    from .network_access import parse_auth
    try:
        args.auth = parse_auth(args.auth)
    except ValueError as error:
        parser.error(f'--auth: {error}')


def _backend_options(args: argparse.Namespace) -> dict:
    """The backend's own options that the arguments give: the fast path
    (``--fast``, ``--compile``; ``--precision`` too for a backend with a
    fast path, where it implies ``--fast``), the model file and, for a
    backend that reads one, the checkpoint (``-`` or none: not given)."""
    from .apis.backends import backend_class
    own = backend_class(args.backend).options()
    fast = fast_inference_options(args) if 'fast' in own else (
        {} if args.fast or args.compile else None)
    checkpoint = getattr(args, 'checkpoint', None)
    given = dict(
        fast=fast,
        model_file=args.model_file,
        checkpoint=checkpoint
        if 'checkpoint' in own and checkpoint != '-' else None)
    return {key: value for key, value in given.items() if value is not None}


def check_model_arguments(parser: argparse.ArgumentParser,
                          args: argparse.Namespace) -> None:
    """Refuse (``parser.error``) combinations of :func:`add_model_arguments`
    options that do not fit the model, and set ``args.model_file`` from
    ``--onnx``. ``args.deployed`` says whether the model is a deployed
    folder. Which options a backend takes is the backend's own
    declaration (:meth:`~ssformer_mmseg.apis.backends.InferenceBackend.
    options`)."""
    from .apis.backends import backend_class, misplaced_options
    if args.deployed and (args.backend != parser.get_default('backend')
                          or args.onnx or args.model_file):
        parser.error('a deployed-model folder sets its own backend and '
                     'model file')
    if args.deployed and (args.fast or args.compile):
        parser.error('--fast/--compile apply to the pytorch backend, not to '
                     'a deployed-model folder')
    if args.onnx and args.model_file:
        parser.error('give --onnx or --model-file, not both')
    args.model_file = args.model_file or args.onnx
    if args.deployed:
        return
    for option in misplaced_options(args.backend,
                                    list(_backend_options(args))):
        parser.error(f'{_flag(option, args)} does not apply to '
                     f'backend {args.backend}')
    if 'model_file' in backend_class(args.backend).options() and \
            not args.model_file:
        parser.error(f'--backend {args.backend} needs --model-file FILE')


def build_segmenter(args: argparse.Namespace):
    """The :class:`~ssformer_mmseg.apis.PolypSegmenter` that the inference
    tools' arguments describe: a deployed-model folder (``args.deployed``,
    the folder in ``args.config``), or a config with the backend's own
    options (:func:`check_model_arguments` has checked them).

    Raises:
        ValueError: A precision asked of a deployed model, which runs at
            its own.
    """
    from .apis import PolypSegmenter
    from .deploy.artifact import DeployedModel
    threshold = getattr(args, 'threshold', None)
    if args.deployed:
        if args.precision not in (None, 'fp32'):
            raise ValueError('a deployed model runs at its own precision')
        return DeployedModel.load(args.config).segmenter(
            device=args.device,
            throughput=args.throughput,
            threshold=threshold)
    options = _backend_options(args)
    return PolypSegmenter(
        args.config,
        device=args.device,
        cfg_options=args.cfg_options,
        backend=args.backend,
        threshold=threshold,
        precision=None if 'fast' in options else args.precision,
        throughput=args.throughput,
        **options)


def convert_checkpoint_command(kind: str,
                               description: str,
                               src_help: str,
                               dst_help: str,
                               argv: Optional[List[str]] = None) -> int:
    """The command line of ``tools/model_converters/``: parse ``src dst``,
    convert with
    :func:`~ssformer_mmseg.checkpoint_converters.convert_checkpoint_file`
    and report the dropped keys and the tensor count."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help=dst_help)
    args = parser.parse_args(argv)
    from .checkpoint_converters import convert_checkpoint_file
    result = convert_checkpoint_file(args.src, args.dst, kind=kind)
    if result.dropped:
        print(f'dropped {len(result.dropped)} unused keys:')
        for key in result.dropped:
            print(f'  {key}')
    print(f'converted {result.converted} tensors: {args.src} -> {args.dst}')
    return 0


def progress_bar() -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing mmengine progress bars
    on stderr: a new bar each time a loop starts (``done == 1``)."""
    state = {}

    def progress(done: int, total: int) -> None:
        if done == 1 or 'bar' not in state:
            state['bar'] = ProgressBar(total, file=sys.stderr)
        state['bar'].update()
        if done == total:
            sys.stderr.write('\n')
            state.pop('bar')

    return progress


def __getattr__(name: str):
    # ENGINES was a fixed tuple; the registry says which backends run a
    # model file, including ones registered later.
    if name == 'ENGINES':
        from ._deprecation import warn_deprecated
        warn_deprecated(
            'ssformer_mmseg.cli.ENGINES', 'use '
            'ssformer_mmseg.apis.backends.deployable_backends()',
            stacklevel=3)
        return _engine_names()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
