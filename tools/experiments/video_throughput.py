"""Frames/s of a segmenter on a real colonoscopy clip: the model alone, and
end to end (decode, infer, overlay video), sequential and overlapped.

The clip is one CVC-ClinicDB sequence (the longest by default) encoded as
an MPEG-4 video under --work-dir. What is measured, and how:
ssformer_mmseg.benchmark.video_clip.measure_video_throughput. The model is a
config (with a checkpoint, or an engine's model file) or a deployed-model
folder, as for tools/infer.py. Without a checkpoint the PyTorch model keeps
random weights: the speed is the same.

Examples:
    python tools/experiments/video_throughput.py configs/ssformer_s_kvasir.py
    python tools/experiments/video_throughput.py \\
        configs/ssformer_s_kvasir.py --fast
    python tools/experiments/video_throughput.py \\
        configs/ssformer_s_kvasir.py - --backend onnxruntime \\
        --model-file ssformer_s.onnx --sequence 8
    python tools/experiments/video_throughput.py deployed/s_int8 --throughput
"""
import argparse
import os.path as osp
import sys
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis import BACKENDS
from ssformer_mmseg.benchmark.video_clip import (default_data_root,
                                                 measure_video_throughput,
                                                 sequence_frames, write_clip)
from ssformer_mmseg.cli import (add_cfg_options_argument, add_config_argument,
                                add_fast_inference_arguments, build_segmenter,
                                check_model_arguments)
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.deploy.artifact import is_deployed_folder


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(
        parser, help='config with a test pipeline, or a deployed-model folder')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='weights for the pytorch backend (default: random); "-" '
        'for none')
    parser.add_argument(
        '--backend', choices=sorted(BACKENDS), default='pytorch')
    parser.add_argument(
        '--model-file', help='the engine\'s model file (ONNX, OpenVINO IR)')
    parser.add_argument(
        '--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument(
        '--throughput',
        action='store_true',
        help='engines: OpenVINO\'s THROUGHPUT hint (see tools/infer.py)')
    parser.add_argument(
        '--data-root',
        default=default_data_root(),
        help='holds cvc-clinicdb/ (default: $SSFORMER_TEST_DATA, else '
        '../shared/data beside the repository)')
    parser.add_argument(
        '--sequence',
        type=int,
        help='CVC-ClinicDB sequence, 1-29 (default: the longest)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='timed passes of each measurement (default: 3)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/video_throughput',
        help='clip and outputs (default: work_dirs/video_throughput)')
    add_fast_inference_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    args.deployed = is_deployed_folder(args.config)
    if args.deployed and args.checkpoint:
        parser.error('a deployed-model folder takes no checkpoint')
    args.onnx = None  # this tool has --model-file only
    check_model_arguments(parser, args)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # As in tools/infer.py: SSFormer's x4 align_corners upsampling warns.
    warnings.filterwarnings(
        'ignore', message='When align_corners=True', category=UserWarning)
    try:
        sequence, paths = sequence_frames(args.data_root, args.sequence)
        clip = write_clip(
            paths, osp.join(args.work_dir, f'clinicdb_seq{sequence}.mp4'))
        segmenter = build_segmenter(args)
        result = measure_video_throughput(
            segmenter, clip, args.work_dir, repeats=args.repeats)
    except (PolypFileError, FileNotFoundError, ImportError,
            ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'CVC-ClinicDB sequence {sequence}: frames '
          f'{osp.basename(paths[0])} to {osp.basename(paths[-1])}')
    print(result.report())
    return 0


if __name__ == '__main__':
    sys.exit(main())
