"""Serve the web app: segment uploaded frames and videos, and review a test
run's failures, in the browser.

The model is a config + checkpoint (PyTorch, or an engine's model file with
--backend/--model-file, as tools/infer.py takes them), or a deployed-model
folder (tools/deploy.py). Serves on 127.0.0.1 (this machine only) unless
--host says otherwise; needs the webapp extra (pip install -e ".[webapp]").

Examples:
    python tools/webapp.py configs/ssformer_s_kvasir.py ckpt.pth
    python tools/webapp.py deployed/s_int8 --port 7861 \\
        --review work_dirs/test_run
    python tools/webapp.py configs/ssformer_s_kvasir.py - \\
        --backend openvino --model-file model.xml
"""
import argparse
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_cfg_options_argument, add_model_arguments,
                                build_segmenter, check_model_arguments)
from ssformer_mmseg.deploy.artifact import is_deployed_folder
from ssformer_mmseg.webapp import segment


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument(
        'config',
        help='config with a test pipeline, or a deployed-model '
        'folder')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint (not with a deployed folder; "-" or none with an '
        'engine backend, or for random weights)')
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to serve on (default: 127.0.0.1, this machine only; '
        '0.0.0.0 serves every network the machine is on)')
    parser.add_argument(
        '--port',
        type=int,
        default=None,
        help='port (default: the first free one from 7860)')
    parser.add_argument(
        '--review', help='a test run folder (tools/test.py --out) to open')
    parser.add_argument(
        '--max-video-frames',
        type=int,
        default=segment.DEFAULT_MAX_VIDEO_FRAMES,
        help='most frames of an uploaded video (default: '
        f'{segment.DEFAULT_MAX_VIDEO_FRAMES})')
    add_model_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    args.deployed = is_deployed_folder(args.config)
    if args.deployed and args.checkpoint is not None:
        parser.error('a deployed-model folder needs no checkpoint')
    check_model_arguments(parser, args)
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings(
        'ignore', message='When align_corners=True', category=UserWarning)
    from ssformer_mmseg.webapp import WebApp
    app = WebApp(
        build_segmenter(args),
        host=args.host,
        port=args.port,
        review_dir=args.review,
        max_video_frames=args.max_video_frames)
    app.start(block=True)


if __name__ == '__main__':
    main()
