"""Export SSFormer to ONNX and check ONNX Runtime against PyTorch.

The graph takes the normalised RGB batch the model's data_preprocessor
makes (input "input", N x 3 x H x W float32) and returns "logits" and
"probs" (sigmoid) at the input size, N x 1 x H x W: the head's 1/4-scale
logits after the model's own x4 bilinear upsampling (align_corners of the
head, True for SSFormer). Resizing to each frame's size stays outside (on
logits, as mmseg does; tools/infer.py --backend onnxruntime does it).

Default: H x W fixed to the test pipeline's resize (352 x 352 for our
configs), batch dynamic. After export, ONNX Runtime and PyTorch run the
same random batch; max |diff| of both outputs is printed, and the exit code
is 1 if the probabilities differ by more than --tolerance, or the logits by
more than --tolerance x max(1, max |logit|): logits of a trained model span
tens, where float32 itself is only good to about 1e-4 (PyTorch float32 and
float64 differ by as much as ONNX Runtime and PyTorch do).

Needs: pip install onnx onnxscript onnxruntime  (pip install -e ".[onnx]")

Example:
    python tools/export_onnx.py configs/ssformer_s_kvasir.py ckpt.pth \\
        --out work_dirs/ssformer_s.onnx
"""
import argparse
import sys
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis import load_segmentor, network_input_size
from ssformer_mmseg.apis.onnx_export import (export_checked,
                                             require_export_packages)
from ssformer_mmseg.cli import add_cfg_options_argument, add_config_argument
from ssformer_mmseg.config import load_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(parser)
    parser.add_argument(
        'checkpoint', help='checkpoint; "-" exports random weights')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input height and width (default: the size the config\'s test '
        'pipeline resizes to, 352 352 for our configs)')
    parser.add_argument(
        '--opset',
        type=int,
        default=17,
        help='ONNX opset (default: 17; the dynamo exporter writes 18+ and '
        'converts down)')
    parser.add_argument(
        '--dynamic-batch',
        dest='dynamic_batch',
        action='store_true',
        default=True,
        help='free batch dimension (the default)')
    parser.add_argument(
        '--no-dynamic-batch',
        dest='dynamic_batch',
        action='store_false',
        help='batch fixed to 1')
    parser.add_argument(
        '--dynamic-hw',
        action='store_true',
        help='free height/width too (dynamo exporter; about twice the '
        'export time, no speed gain at 352x352, and the test pipeline '
        'always resizes to one size)')
    parser.add_argument(
        '--exporter',
        choices=['dynamo', 'torchscript'],
        default='dynamo',
        help='dynamo: torch.export based, PyTorch\'s default (needs '
        'onnxscript); torchscript: the legacy tracer, deprecated since '
        'PyTorch 2.9 (default: dynamo)')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='max allowed |ONNX - PyTorch| of the probabilities, and of the '
        'logits relative to max(1, max |logit|) (default: 1e-4)')
    add_cfg_options_argument(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else network_input_size(cfg)
    checkpoint = None if args.checkpoint == '-' else args.checkpoint
    try:
        # Fail before loading and exporting if the check cannot run.
        require_export_packages(args.exporter)
        model = load_segmentor(cfg, checkpoint, device='cpu')
        report = export_checked(
            model,
            args.out,
            shape=shape,
            opset=args.opset,
            dynamic_batch=args.dynamic_batch,
            dynamic_hw=args.dynamic_hw,
            exporter=args.exporter,
            tolerance=args.tolerance)
    except ImportError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    batch = 'dynamic' if args.dynamic_batch else '1'
    hw = 'dynamic' if args.dynamic_hw else f'{shape[0]}x{shape[1]}'
    print(f'exported {args.out} ({report.size_mib:.1f} MiB, opset '
          f'{report.opset}, {args.exporter} exporter, batch {batch}, '
          f'H x W {hw}) in {report.seconds:.1f} s')
    for (height, width), diffs in report.parity:
        print(f'onnxruntime vs PyTorch on a random {height}x{width} batch: '
              f'max |diff| probs {diffs["probs"]:.3e}, logits '
              f'{diffs["logits"]:.3e} (relative to max(1, max |logit|): '
              f'{diffs["logits_rel"]:.3e})')
    if not report.ok:
        print(
            f'error: max |diff| {report.worst:.3e} (probs, or logits '
            'relative to their range) exceeds the tolerance '
            f'{args.tolerance:g}',
            file=sys.stderr)
        return 1
    print(f'parity OK: probs and relative logits within {args.tolerance:g}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
