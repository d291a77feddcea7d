"""Command-line options shared by the tools under ``tools/``.

Each tool parses its own arguments; the options that several tools share,
and how they turn into a config or keyword arguments, are defined once here.
"""
import argparse
import os
import sys
from typing import Callable, List, Optional

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


#: The backends that run an engine's model file, not a checkpoint.
ENGINES = ('onnxruntime', 'openvino')


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


def check_model_arguments(parser: argparse.ArgumentParser,
                          args: argparse.Namespace) -> None:
    """Refuse (``parser.error``) combinations of :func:`add_model_arguments`
    options that do not fit the model, and set ``args.model_file`` from
    ``--onnx``. ``args.deployed`` says whether the model is a deployed
    folder."""
    if args.deployed and (args.backend != 'pytorch' or args.onnx
                          or args.model_file):
        parser.error('a deployed-model folder sets its own backend and '
                     'model file')
    engine = args.deployed or args.backend in ENGINES
    if engine and (args.fast or args.compile):
        parser.error('--fast/--compile apply to the pytorch backend')
    if args.onnx and args.model_file:
        parser.error('give --onnx or --model-file, not both')
    args.model_file = args.model_file or args.onnx
    if args.backend in ENGINES and not args.model_file:
        parser.error(f'--backend {args.backend} needs --model-file FILE')


def build_segmenter(args: argparse.Namespace):
    """The :class:`~ssformer_mmseg.apis.PolypSegmenter` that the inference
    tools' arguments describe: a deployed-model folder (``args.deployed``,
    the folder in ``args.config``), or a config with a checkpoint or an
    engine's model file.

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
    engine = args.backend in ENGINES
    use_checkpoint = not engine and args.checkpoint not in (None, '-')
    return PolypSegmenter(
        args.config,
        args.checkpoint if use_checkpoint else None,
        device=args.device,
        cfg_options=args.cfg_options,
        backend=args.backend,
        model_file=args.model_file,
        threshold=threshold,
        fast=None if engine else fast_inference_options(args),
        precision=args.precision if engine else None,
        throughput=args.throughput)


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
