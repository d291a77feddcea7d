"""Segment polyps in an image, a folder of images or a video.

The model is a config + checkpoint (PyTorch, or an engine's model file with
--backend/--model-file), or a deployed-model folder (tools/deploy.py),
which needs nothing else. Writes under --out-dir: masks/<stem>.png
(0/255), probs/<stem>.png (8-bit probability), overlays/<stem>.png (polyp
tinted and outlined); for a video <name>_overlay.mp4 (same fps and size)
and, with --save-frames, the three PNGs per frame as
<name>_<frame index>.png.

Examples:
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth frame.jpg
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth frames/ \\
        --out-dir work_dirs/infer --batch-size 8 --device cuda
    python tools/infer.py configs/ssformer_s_kvasir.py ckpt.pth video.mp4 \\
        --backend onnxruntime --onnx ssformer_s.onnx
    python tools/infer.py deployed/s_int8 video.mp4 --throughput
"""
import argparse
import sys
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis import run_inference
from ssformer_mmseg.cli import (add_cfg_options_argument, add_config_argument,
                                add_model_arguments, build_segmenter,
                                check_model_arguments)
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.deploy.artifact import is_deployed_folder
from ssformer_mmseg.messages import listing


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(
        parser,
        help='config with a test pipeline, or a deployed-model folder '
        '(then give only INPUT after it)')
    parser.add_argument(
        'checkpoint',
        help='checkpoint; not read by the engine backends (the weights are '
        'in the model file), "-" allowed there')
    parser.add_argument(
        'input', nargs='?', help='image, folder of images, or video')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/infer',
        help='output folder (default: work_dirs/infer)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='frames per forward pass (default: 1)')
    parser.add_argument(
        '--save-frames',
        action='store_true',
        help='video input: also write masks/probs/overlays '
        'PNGs for every frame')
    parser.add_argument(
        '--skip-bad-frames',
        action='store_true',
        help='leave out frames that cannot be read (corrupt, truncated, '
        '16-bit or grey images; video frames of another size or that fail '
        'to decode), keep the other outputs and list them with reasons in '
        'OUT_DIR/skipped_frames.csv (default: stop and remove the outputs)')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    add_model_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    args.deployed = is_deployed_folder(args.config)
    if args.deployed:
        if args.input is not None:
            parser.error('a deployed-model folder takes only INPUT after it '
                         '(no checkpoint)')
        args.input, args.checkpoint = args.checkpoint, None
    elif args.input is None:
        parser.error('give CONFIG CHECKPOINT INPUT, or DEPLOYED_DIR INPUT')
    check_model_arguments(parser, args)
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # mmseg notes that x4 upsampling with align_corners=True is not
    # corner-exact (88 -> 352); it is SSFormer's official upsampling.
    warnings.filterwarnings(
        'ignore', message='When align_corners=True', category=UserWarning)
    try:
        segmenter = build_segmenter(args)
        summary = run_inference(
            segmenter,
            args.input,
            args.out_dir,
            batch_size=args.batch_size,
            save_frames=args.save_frames,
            progress=not args.no_progress,
            skip_bad_frames=args.skip_bad_frames)
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
    if summary['skipped_report']:
        names = [frame['name'] for frame in summary['skipped_frames']]
        print(f'skipped {len(names)} unreadable frame(s) '
              f'({listing(names, limit=10) or "none"}); reasons in '
              f'{summary["skipped_report"]}')
    rate = summary['frames'] / max(summary['seconds'], 1e-9)
    print(f'segmented {summary["frames"]} frame(s) of {args.input} '
          f'({summary["kind"]}) in {summary["seconds"]:.1f} s '
          f'({rate:.2f} frames/s, {segmenter.backend} '
          f'{segmenter.precision} on {segmenter.device}, '
          f'threshold {segmenter.threshold})')
    for path in summary['outputs']:
        print(f'wrote {path}')
    if summary['kind'] != 'video' or args.save_frames:
        print(f'wrote masks/, probs/, overlays/ under {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
