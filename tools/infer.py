"""Segment polyps in an image, a folder of images or a video.

Writes under --out-dir: masks/<stem>.png (0/255), probs/<stem>.png (8-bit
probability), overlays/<stem>.png (polyp tinted and outlined); for a video
<name>_overlay.mp4 (same fps and size) and, with --save-frames, the three
PNGs per frame as <name>_<frame index>.png.

Examples:
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth frame.jpg
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth frames/ \\
        --out-dir work_dirs/infer --batch-size 8 --device cuda
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth video.mp4 \\
        --backend onnxruntime --onnx ssformer_s.onnx
"""
import argparse
import sys
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis import BACKENDS, PolypSegmenter, run_inference
from ssformer_mmseg.cli import (add_cfg_options_argument,
                                add_fast_inference_arguments,
                                fast_inference_options)
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.messages import listing


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config with a test pipeline')
    parser.add_argument(
        'checkpoint',
        help='checkpoint; not read with --backend onnxruntime (the weights '
        'are in the ONNX file), "-" allowed there')
    parser.add_argument('input', help='image, folder of images, or video')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/infer',
        help='output folder (default: work_dirs/infer)')
    parser.add_argument(
        '--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='frames per forward pass (default: 1)')
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
        '--save-frames',
        action='store_true',
        help='video input: also write masks/probs/overlays '
        'PNGs for every frame')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    add_fast_inference_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    if args.backend == 'onnxruntime' and fast_inference_options(args):
        parser.error('--fast/--precision/--compile apply to the pytorch '
                     'backend')
    if args.backend == 'onnxruntime' and not args.onnx:
        parser.error('--backend onnxruntime needs --onnx FILE')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # mmseg notes that x4 upsampling with align_corners=True is not
    # corner-exact (88 -> 352); it is SSFormer's official upsampling.
    warnings.filterwarnings(
        'ignore', message='When align_corners=True', category=UserWarning)
    use_checkpoint = args.backend == 'pytorch' and args.checkpoint != '-'
    try:
        segmenter = PolypSegmenter(
            args.config,
            args.checkpoint if use_checkpoint else None,
            device=args.device,
            cfg_options=args.cfg_options,
            backend=args.backend,
            onnx_file=args.onnx,
            threshold=args.threshold,
            fast=fast_inference_options(args))
        summary = run_inference(
            segmenter,
            args.input,
            args.out_dir,
            batch_size=args.batch_size,
            save_frames=args.save_frames,
            progress=not args.no_progress)
    except (PolypFileError, FileNotFoundError, ImportError,
            ValueError) as error:
        # Bad inputs, a device or backend that cannot be used, missing
        # optional packages: the message says it all.
        print(f'error: {error}', file=sys.stderr)
        for note in getattr(error, '__notes__', []):
            print(note, file=sys.stderr)
        return 1
    if summary['skipped']:
        print(f'skipped {len(summary["skipped"])} non-image file(s): ' +
              listing(summary['skipped'], limit=10))
    rate = summary['frames'] / max(summary['seconds'], 1e-9)
    print(f'segmented {summary["frames"]} frame(s) of {args.input} '
          f'({summary["kind"]}) in {summary["seconds"]:.1f} s '
          f'({rate:.2f} frames/s, {segmenter.backend} on '
          f'{segmenter.device}, '
          f'threshold {segmenter.threshold})')
    for path in summary['outputs']:
        print(f'wrote {path}')
    if summary['kind'] != 'video' or args.save_frames:
        print(f'wrote masks/, probs/, overlays/ under {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
