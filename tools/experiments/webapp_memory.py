"""Peak memory of the web app's requests: 50 Kvasir-SEG frames, a 2-minute
720p clip, and requests over its budget (too many files, a header that
claims 60000x60000, a clip over the frame limit).

The app runs in this process on loopback with a gradio_client beside it;
each request's peak resident memory above the start is sampled
(ssformer_mmseg.webapp.load.peak_rss). The clip is Kvasir-SEG frames at
1280x720, 25 frames/s. Without a checkpoint the model keeps random weights
(memory and time per frame are the same); pass the tiny model's
--cfg-options for a quick run.

Example:
    python tools/experiments/webapp_memory.py configs/ssformer_s_kvasir.py \\
        --data-root ../data --work-dir work_dirs/webapp_memory
"""
import argparse
import os
import os.path as osp
import shutil
import struct
import sys
import time
import warnings
import zlib
from typing import List, Optional

import cv2

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.apis import PolypSegmenter
from ssformer_mmseg.cli import add_cfg_options_argument, add_config_argument
from ssformer_mmseg.config import load_config
from ssformer_mmseg.cpu_features import cpu_description
from ssformer_mmseg.webapp import WebApp, segment
from ssformer_mmseg.webapp.load import peak_rss, rss_bytes


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(parser)
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument(
        '--data-root',
        default=os.environ.get('SSFORMER_TEST_DATA', '../shared/data'),
        help='folder with kvasir-seg/images')
    parser.add_argument('--work-dir', default='work_dirs/webapp_memory')
    parser.add_argument('--frames', type=int, default=50)
    parser.add_argument('--clip-seconds', type=float, default=120)
    add_cfg_options_argument(parser)
    return parser.parse_args(argv)


def write_clip(frames: List[str], path: str, count: int) -> str:
    """``count`` frames at 1280x720, 25 frames/s, cycling through
    ``frames``."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25,
                             (1280, 720))
    images = [cv2.resize(cv2.imread(f), (1280, 720)) for f in frames[:25]]
    for index in range(count):
        writer.write(images[index % len(images)])
    writer.release()
    return path


def header_bomb(path: str) -> str:
    """A PNG whose header claims 60000x60000."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack(
            '>I', zlib.crc32(kind + data))

    header = struct.pack('>IIBBBBB', 60000, 60000, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
                chunk(b'IDAT', zlib.compress(b'\0' * 4096)) +
                chunk(b'IEND', b''))
    return path


def request(client, images=None, video=None) -> tuple:
    """Outcome, seconds and peak memory of one /segment request."""
    import gradio_client
    start = time.perf_counter()
    with peak_rss() as memory:
        try:
            answer = client.predict(
                [gradio_client.handle_file(p)
                 for p in images] if images else None,
                gradio_client.handle_file(video) if video else None,
                0.5,
                api_name='/segment')
            outcome = answer[0].replace('*', '')
        except Exception as error:  # a refusal is an outcome here
            outcome = f'refused: {str(error).splitlines()[0][:110]}'
    return outcome, time.perf_counter() - start, memory


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings('ignore', category=UserWarning)
    import gradio_client
    images = osp.join(args.data_root, 'kvasir-seg', 'images')
    if not osp.isdir(images):
        print(f'error: {images}: no such folder', file=sys.stderr)
        return 1
    frames = sorted(osp.join(images, n) for n in os.listdir(images))
    os.makedirs(args.work_dir, exist_ok=True)
    clip_frames = int(round(args.clip_seconds * 25))
    clip = osp.join(args.work_dir, f'kvasir_720p_{clip_frames}.mp4')
    if not osp.isfile(clip):
        print(f'writing {clip} ({clip_frames} frames)', flush=True)
        write_clip(frames, clip, clip_frames)
    many = osp.join(args.work_dir, 'many')
    os.makedirs(many, exist_ok=True)
    copies = []
    for index in range(segment.Budget().max_files + 1):
        copies.append(osp.join(many, f'{index}.jpg'))
        if not osp.isfile(copies[-1]):
            shutil.copyfile(frames[0], copies[-1])
    bomb = header_bomb(osp.join(args.work_dir, 'bomb.png'))
    segmenter = PolypSegmenter(
        load_config(args.config, args.cfg_options), args.checkpoint)
    rows = []
    print(
        f'{cpu_description()}; process RSS at start '
        f'{rss_bytes() / 2**20:.0f} MiB',
        flush=True)
    scenarios = [
        ('default budget', f'{args.frames} Kvasir-SEG frames',
         dict(images=frames[:args.frames])),
        ('default budget', f'{clip_frames}-frame 720p clip', dict(video=clip)),
        ('default budget', f'{len(copies)} files', dict(images=copies)),
        ('default budget', 'PNG header claiming 60000x60000',
         dict(images=[bomb])),
        ('--max-video-frames 1000', f'{clip_frames}-frame 720p clip',
         dict(video=clip)),
    ]
    for budget_name, what, upload in scenarios:
        budget = segment.Budget(
            max_video_frames=1000) if budget_name.startswith('--') else \
            segment.Budget()
        with WebApp(segmenter, budget=budget) as app:
            app.start()
            client = gradio_client.Client(
                app.url,
                verbose=False,
                download_files=osp.join(args.work_dir, 'downloads'))
            outcome, seconds, memory = request(client, **upload)
        rows.append((what, budget_name, outcome, seconds, memory))
        print(
            f'{what} ({budget_name}): {outcome}; {seconds:.1f} s; peak RSS '
            f'+{memory.added / 2**20:.0f} MiB (process '
            f'{memory.peak / 2**20:.0f} MiB)',
            flush=True)
    print('\n| request | budget | outcome | s | peak RSS added | process '
          'peak |\n| --- | --- | --- | --- | --- | --- |')
    for what, budget_name, outcome, seconds, memory in rows:
        print(f'| {what} | {budget_name} | {outcome} | {seconds:.1f} | '
              f'{memory.added / 2**20:.0f} MiB | '
              f'{memory.peak / 2**20:.0f} MiB |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
