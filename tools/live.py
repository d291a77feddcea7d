"""Segment a live source: a camera or capture card, a stream, or a video file
replayed in real time, at bounded latency.

Capture runs on its own thread and keeps only the newest frame; the model
always takes the newest one, and frames that arrive while it is busy are
dropped and counted, never queued, so the overlay lags the source by one
model call at most. The overlays go to an MJPEG stream any browser shows
(--serve), a window (--show), a recording at the source's timing (--record)
and, with --out-dir, a per-frame CSV (capture time, model time, latency,
dropped so far, polyp area) and a summary (frames in, processed, dropped,
frames/s, latency p50/p95/max). Ctrl-C, SIGTERM, the source's end or
disconnection stop the run cleanly with complete outputs.

Examples:
    python tools/live.py deployed/s_int8 --source 0 --serve
    python tools/live.py deployed/s_int8 --source /dev/video0 --show \\
        --out-dir work_dirs/live --record
    python tools/live.py deployed/s_int8 --source rtsp://scope.local/live \\
        --serve --host 0.0.0.0 --auth nurse:secret
    python tools/live.py configs/ssformer_s_kvasir.py ckpt.pth \\
        --source clip.mp4 --realtime --out-dir work_dirs/live --record
"""
import argparse
import signal
import sys
import threading
import warnings
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis.live_session import LiveOptions, live_session
from ssformer_mmseg.apis.live_source import DEFAULT_OPEN_TIMEOUT_S
from ssformer_mmseg.cli import (add_cfg_options_argument, add_config_argument,
                                add_model_arguments, build_segmenter,
                                check_auth_argument, check_model_arguments)
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
        help='checkpoint (not with a deployed-model folder; "-" for none)')
    parser.add_argument(
        '--source',
        required=True,
        help='camera index (0), capture device (/dev/video0), stream URL '
        '(rtsp://, http://, udp://, ... as FFmpeg reads it), or a video file '
        'with --realtime')
    parser.add_argument(
        '--realtime',
        action='store_true',
        help='replay a video file at its own frame rate, as a camera '
        'delivers frames')
    parser.add_argument(
        '--loop',
        action='store_true',
        help='with --realtime: replay the file again from its start at its '
        'end (a long run from a short clip)')
    parser.add_argument(
        '--open-timeout',
        type=float,
        default=DEFAULT_OPEN_TIMEOUT_S,
        help='seconds opening the source (and each stream read) may take '
        f'(default: {DEFAULT_OPEN_TIMEOUT_S:g})')
    parser.add_argument(
        '--out-dir',
        help='write live_frames.csv and live_summary.json (and, with '
        '--record, live_overlay.mp4) here')
    parser.add_argument(
        '--record',
        action='store_true',
        help='record the overlays at the source\'s timing (needs --out-dir)')
    parser.add_argument(
        '--serve',
        action='store_true',
        help='serve the overlays as an MJPEG stream (a page at the printed '
        'address)')
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address of the stream (default: loopback only)')
    parser.add_argument(
        '--port', type=int, default=0, help='its port (default: a free one)')
    parser.add_argument(
        '--auth', help='USER:PASS the stream asks for (HTTP basic)')
    parser.add_argument(
        '--show', action='store_true', help='show a window (q quits)')
    parser.add_argument(
        '--max-frames', type=int, help='stop after N processed frames')
    parser.add_argument(
        '--max-seconds', type=float, help='stop after S seconds')
    add_model_arguments(parser)
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    args.deployed = is_deployed_folder(args.config)
    if args.deployed and args.checkpoint is not None:
        parser.error('a deployed-model folder takes no checkpoint')
    check_model_arguments(parser, args)
    check_auth_argument(parser, args)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings(
        'ignore', message='When align_corners=True', category=UserWarning)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    options = LiveOptions(
        source=args.source,
        realtime=args.realtime,
        loop=args.loop,
        open_timeout_s=args.open_timeout,
        out_dir=args.out_dir,
        record=args.record,
        serve=args.serve,
        host=args.host,
        port=args.port,
        auth=args.auth,
        show=args.show,
        max_frames=args.max_frames,
        max_seconds=args.max_seconds)
    try:
        segmenter = build_segmenter(args)
        summary = live_session(
            segmenter, options, log=lambda m: print(m, flush=True), stop=stop)
    except (OSError, ImportError, ValueError) as error:
        # A source that cannot be opened (LiveSourceError), a recording
        # that does not verify, a backend that cannot be used.
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(summary.text())
    for path in summary.outputs:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
