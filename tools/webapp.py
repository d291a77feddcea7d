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
import os
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_cfg_options_argument, add_config_argument,
                                add_model_arguments, build_segmenter,
                                check_auth_argument, check_model_arguments)
from ssformer_mmseg.deploy.artifact import is_deployed_folder
from ssformer_mmseg.webapp import segment
from ssformer_mmseg.webapp.app import DEFAULT_CONCURRENCY, DEFAULT_IDLE_SECONDS

#: Environment variable read for --auth.
AUTH_ENV = 'SSFORMER_WEBAPP_AUTH'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(
        parser,
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
        '--review',
        help='a test run folder (tools/test.py --out), or a folder of them: '
        'the only place the review tab opens runs from')
    parser.add_argument(
        '--auth',
        default=os.environ.get(AUTH_ENV),
        help='USER:PASS the page asks for (default: $' + AUTH_ENV +
        ', which keeps the password out of the process list); without it '
        'a --host other than loopback is served with a warning')
    limits = parser.add_argument_group(
        'limits (each refusal names the option that sets it)')
    budget = segment.Budget()
    limits.add_argument(
        '--max-files',
        type=int,
        default=budget.max_files,
        help=f'images in one request (default: {budget.max_files})')
    limits.add_argument(
        '--max-request-pixels',
        type=int,
        default=budget.max_request_pixels,
        help='pixels in one request: the images summed, or a video\'s '
        f'frames x frame size (default: {budget.max_request_pixels:,})')
    limits.add_argument(
        '--max-video-frames',
        type=int,
        default=budget.max_video_frames,
        help='frames of one video (default: '
        f'{budget.max_video_frames})')
    limits.add_argument(
        '--idle-minutes',
        type=float,
        default=DEFAULT_IDLE_SECONDS / 60,
        help='a session\'s files are removed after this long unused '
        f'(default: {DEFAULT_IDLE_SECONDS // 60})')
    limits.add_argument(
        '--concurrency',
        type=int,
        default=DEFAULT_CONCURRENCY,
        help='requests run at once; the model takes them a batch at a '
        f'time, in arrival order (default: {DEFAULT_CONCURRENCY})')
    add_model_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    args.deployed = is_deployed_folder(args.config)
    if args.deployed and args.checkpoint is not None:
        parser.error('a deployed-model folder needs no checkpoint')
    check_model_arguments(parser, args)
    for name in ('max_files', 'max_request_pixels', 'max_video_frames',
                 'idle_minutes', 'concurrency'):
        if getattr(args, name) <= 0:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    check_auth_argument(parser, args)
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
        budget=segment.Budget(args.max_files, args.max_request_pixels,
                              args.max_video_frames),
        auth=args.auth,
        concurrency=args.concurrency,
        idle_seconds=args.idle_minutes * 60)
    app.start(block=True)


if __name__ == '__main__':
    main()
