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
import logging
import os
import os.path as osp
import sys
import time
import warnings
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import DictAction  # noqa: E402

from ssformer_mmseg.apis import (export_onnx, load_segmentor,  # noqa: E402
                                 network_input_size, onnx_opset, onnx_parity,
                                 require)
from ssformer_mmseg.config import load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config')
    parser.add_argument('checkpoint',
                        help='checkpoint; "-" exports random weights')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'),
        help='input height and width (default: the size the config\'s test '
        'pipeline resizes to, 352 352 for our configs)')
    parser.add_argument(
        '--opset', type=int, default=17,
        help='ONNX opset (default: 17; the dynamo exporter writes 18+ and '
        'converts down)')
    parser.add_argument('--dynamic-batch', dest='dynamic_batch',
                        action='store_true', default=True,
                        help='free batch dimension (the default)')
    parser.add_argument('--no-dynamic-batch', dest='dynamic_batch',
                        action='store_false', help='batch fixed to 1')
    parser.add_argument(
        '--dynamic-hw', action='store_true',
        help='free height/width too (dynamo exporter; about twice the '
        'export time, no speed gain at 352x352, and the test pipeline '
        'always resizes to one size)')
    parser.add_argument(
        '--exporter', choices=['dynamo', 'torchscript'], default='dynamo',
        help='dynamo: torch.export based, PyTorch\'s default (needs '
        'onnxscript); torchscript: the legacy tracer, deprecated since '
        'PyTorch 2.9 (default: dynamo)')
    parser.add_argument(
        '--tolerance', type=float, default=1e-4,
        help='max allowed |ONNX - PyTorch| of the probabilities, and of the '
        'logits relative to max(1, max |logit|) (default: 1e-4)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        # Fail before the (slow) export if the check cannot run.
        for module in ('onnx', 'onnxruntime') + (
                ('onnxscript', ) if args.exporter == 'dynamo' else ()):
            require(module)
    except ImportError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    cfg = load_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else network_input_size(cfg)
    checkpoint = None if args.checkpoint == '-' else args.checkpoint
    model = load_segmentor(cfg, checkpoint, device='cpu')

    # The exporters log every step and every op they leave unfolded; the
    # summary and the parity check below say what matters.
    for name in ('onnxscript', 'torch.onnx'):
        logging.getLogger(name).setLevel(logging.ERROR)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The tracer's and torch.export's notes on Python-side shape
        # arithmetic are expected for a fixed graph; the parity check below
        # is what decides whether the export is right.
        warnings.simplefilter('ignore', category=UserWarning)
        warnings.simplefilter('ignore', category=DeprecationWarning)
        warnings.simplefilter('ignore', category=FutureWarning)
        export_onnx(model, args.out, shape=shape, opset=args.opset,
                    dynamic_batch=args.dynamic_batch,
                    dynamic_hw=args.dynamic_hw, exporter=args.exporter)
    seconds = time.perf_counter() - start
    size_mb = os.path.getsize(args.out) / 2**20
    batch = 'dynamic' if args.dynamic_batch else '1'
    hw = 'dynamic' if args.dynamic_hw else f'{shape[0]}x{shape[1]}'
    print(f'exported {args.out} ({size_mb:.1f} MiB, opset '
          f'{onnx_opset(args.out)}, {args.exporter} exporter, batch {batch}, '
          f'H x W {hw}) in {seconds:.1f} s')

    shapes = [shape]
    if args.dynamic_hw:  # prove the free size on a second one too
        shapes.append((shape[0] - 32, shape[1] + 32))
    worst = 0.0
    for check_shape in shapes:
        diffs = onnx_parity(model, args.out, shape=check_shape,
                            batch_size=2 if args.dynamic_batch else 1)
        # Checked: probabilities absolutely, logits relative to their range
        # (float32 itself is only good to ~1e-4 on logits of tens).
        worst = max(worst, diffs['probs'], diffs['logits_rel'])
        print(f'onnxruntime vs PyTorch on a random {check_shape[0]}x'
              f'{check_shape[1]} batch: max |diff| probs '
              f'{diffs["probs"]:.3e}, logits {diffs["logits"]:.3e} '
              f'(relative to max(1, max |logit|): {diffs["logits_rel"]:.3e})')
    if worst > args.tolerance:
        print(f'error: max |diff| {worst:.3e} (probs, or logits relative to '
              f'their range) exceeds the tolerance {args.tolerance:g}',
              file=sys.stderr)
        return 1
    print(f'parity OK: probs and relative logits within {args.tolerance:g}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
