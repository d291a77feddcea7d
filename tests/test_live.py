"""The live path: the newest-frame rule and drop accounting (a scripted
source), a video file replayed in real time through a slow stand-in
model (drops rise, every output complete and verified), the MJPEG stream
read by a client, clear errors for sources that cannot be opened, and the
live tool end to end. No timed assertions: speed lives in the benchmark."""
import csv
import json
import threading
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

from ssformer_mmseg.apis import (BACKENDS, InferenceBackend, PolypSegmenter,
                                 register_backend)
from ssformer_mmseg.apis.live import LIVE_FRAME_FIELDS, run_live
from ssformer_mmseg.apis.live_outputs import (LiveCsv, MjpegStream,
                                              OverlayRecording)
from ssformer_mmseg.apis.live_session import (CSV_FILE, RECORDING_FILE,
                                              SUMMARY_FILE, LiveOptions,
                                              live_session)
from ssformer_mmseg.apis.live_source import (CapturedFrame, LiveSource,
                                             LiveSourceError, source_kind)
from ssformer_mmseg.apis.writers import check_video
from ssformer_mmseg.datasets.synthetic import render_frame
from ssformer_mmseg.network_access import ExposedWithoutAuthWarning

CLIP_FRAMES = 30
CLIP_FPS = 25.0
CLIP_SIZE = (96, 72)  # width, height


class SlowBackend(InferenceBackend):
    """A stand-in model: a positive logit inside a centred square, negative
    outside, after ``delay`` seconds (or a callback) per call."""

    def __init__(self, cfg, delay):
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.device = 'cpu'
        self.delay = delay
        self.on_call = None

    @classmethod
    def create(cls, cfg, *, device='cpu', precision=None, throughput=False):
        return cls(cfg, 0.0)

    def logits(self, inputs, data_samples):
        if self.on_call is not None:
            self.on_call()
        elif self.delay:
            threading.Event().wait(self.delay)
        n, _, h, w = inputs.shape
        logits = torch.full((n, 1, h, w), -5.0)
        logits[:, :, h // 4:3 * h // 4, w // 4:3 * w // 4] = 5.0
        return logits


@pytest.fixture
def slow_segmenter(tiny_config):
    register_backend('slow')(SlowBackend)
    try:
        segmenter = PolypSegmenter(tiny_config, backend='slow')
        yield segmenter
    finally:
        BACKENDS.pop('slow')


@pytest.fixture(scope='module')
def clip(tmp_path_factory) -> str:
    """A short 25 frames/s clip of synthetic colonoscopy-like frames."""
    path = str(tmp_path_factory.mktemp('live') / 'clip.mp4')
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), CLIP_FPS,
                             CLIP_SIZE)
    for _ in range(CLIP_FRAMES):
        frame, _ = render_frame(rng, (CLIP_SIZE[1], CLIP_SIZE[0]), 1)
        writer.write(frame)
    writer.release()
    return path


class ScriptedSource:
    """A source whose frames arrive when the test says: ``arrive(n)``
    delivers n more frames; it ends after ``total``."""

    source = 'scripted'
    fps = 25.0

    def __init__(self, total: int):
        self.total = total
        self.frames_in = 0
        self.end_reason = 'the end of the script'

    @property
    def ended(self) -> bool:
        return self.frames_in >= self.total

    def arrive(self, count: int) -> None:
        self.frames_in = min(self.total, self.frames_in + count)

    def newest(self, after=-1, timeout=None):
        index = self.frames_in - 1
        if index > after:
            image = np.full((48, 64, 3), index, np.uint8)
            return CapturedFrame(index, image, 0.0)
        return None


def test_the_model_always_takes_the_newest_frame(slow_segmenter):
    source = ScriptedSource(total=20)
    source.arrive(1)
    # While the model works on a frame, three more arrive.
    slow_segmenter.runtime.on_call = lambda: source.arrive(3)
    seen = []
    summary = run_live(slow_segmenter, source,
                       [lambda record, overlay: seen.append(record)])
    # Frames 0, 3, 6, ...: the newest each time, the two before it dropped.
    assert [r.index for r in seen] == [0, 3, 6, 9, 12, 15, 18, 19]
    assert [r.dropped for r in seen] == [0, 2, 4, 6, 8, 10, 12, 12]
    assert (summary.frames_in, summary.processed, summary.dropped) == (20, 8,
                                                                       12)
    assert summary.end_reason == 'the end of the script'
    assert summary.drop_rate == pytest.approx(12 / 20)
    # The stand-in's mask is the centred half-size square.
    assert seen[0].polyp_percent == pytest.approx(25.0, abs=3)


def test_a_realtime_file_through_a_slow_model(slow_segmenter, clip, tmp_path):
    slow_segmenter.runtime.delay = 0.1  # 2.5 frame periods per call
    options = LiveOptions(
        source=clip, realtime=True, out_dir=str(tmp_path), record=True)
    summary = live_session(slow_segmenter, options)
    assert summary.frames_in == CLIP_FRAMES
    assert summary.end_reason == 'the end of the file'
    assert 0 < summary.processed < CLIP_FRAMES
    assert summary.dropped == CLIP_FRAMES - summary.processed
    with open(tmp_path / CSV_FILE) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == LIVE_FRAME_FIELDS
    assert len(rows) == summary.processed
    indices = [int(r['index']) for r in rows]
    assert indices == sorted(set(indices))  # each frame once, in order
    assert max(b - a for a, b in zip(indices, indices[1:])) > 1  # drops
    for row in rows:
        # Arrival to overlay includes the model's time on it.
        assert float(row['latency_ms']) >= float(row['model_ms'])
        assert int(row['dropped']) == int(row['index']) - rows.index(row)
    lat = summary.latency_ms
    assert lat['p50'] <= lat['p95'] <= lat['max']
    # The recording holds every source frame from the first processed one
    # (a dropped frame's place repeats the overlay before it), verified.
    check_video(
        str(tmp_path / RECORDING_FILE), indices[-1] - indices[0] + 1,
        CLIP_SIZE)
    saved = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert saved['processed'] == summary.processed
    assert saved['drop_rate'] == pytest.approx(summary.drop_rate)
    assert summary.outputs == [
        str(tmp_path / CSV_FILE),
        str(tmp_path / RECORDING_FILE),
        str(tmp_path / SUMMARY_FILE)
    ]


def test_stopping_mid_run_leaves_complete_outputs(slow_segmenter, clip,
                                                  tmp_path):
    stop = threading.Event()
    calls = []

    def on_call():
        calls.append(1)
        if len(calls) == 3:
            stop.set()

    slow_segmenter.runtime.on_call = on_call
    summary = live_session(
        slow_segmenter,
        LiveOptions(
            source=clip, realtime=True, out_dir=str(tmp_path), record=True),
        stop=stop)
    assert summary.end_reason == 'stopped' and summary.processed == 3
    with open(tmp_path / CSV_FILE) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    indices = [int(r['index']) for r in rows]
    check_video(
        str(tmp_path / RECORDING_FILE), indices[-1] - indices[0] + 1,
        CLIP_SIZE)


def test_a_looped_file_goes_on_from_its_start(slow_segmenter, clip):
    stop = threading.Event()
    seen = []
    with LiveSource(clip, realtime=True, loop=True) as source:
        slow_segmenter.runtime.on_call = lambda: stop.set() \
            if source.frames_in > CLIP_FRAMES + 5 else None
        summary = run_live(
            slow_segmenter,
            source, [lambda record, overlay: seen.append(record)],
            stop=stop)
    assert summary.frames_in > CLIP_FRAMES + 5  # past the file's end
    assert [r.index for r in seen] == sorted({r.index for r in seen})
    assert len(summary.latency_p50_by_quarter_ms) == min(4, len(seen))
    with pytest.raises(ValueError, match='only a video file can be looped'):
        LiveSource('rtsp://127.0.0.1:9/live', loop=True)


def test_limits_end_the_run(slow_segmenter, clip):
    summary = live_session(
        slow_segmenter, LiveOptions(source=clip, realtime=True, max_frames=2))
    assert summary.processed == 2
    assert summary.end_reason == '2 frames processed'
    assert summary.outputs == []


def _get(url: str, auth=None) -> bytes:
    request = urllib.request.Request(url)
    if auth is not None:
        import base64
        token = base64.b64encode(f'{auth[0]}:{auth[1]}'.encode()).decode()
        request.add_header('Authorization', f'Basic {token}')
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read() if not url.endswith('.mjpg') else \
            response.read1(1 << 16)


def test_the_mjpeg_stream_serves_the_newest_overlay(slow_segmenter):
    stream = MjpegStream(port=0)
    try:
        overlay = np.zeros((40, 60, 3), np.uint8)
        overlay[:, 30:] = 255
        stream(None, overlay)
        assert b'stream.mjpg' in _get(stream.url)
        image = cv2.imdecode(
            np.frombuffer(_get(stream.url + 'frame.jpg'), np.uint8),
            cv2.IMREAD_COLOR)
        assert image.shape == overlay.shape
        assert np.abs(image.astype(int) - overlay).mean() < 5
        # The stream: multipart parts, each a JPEG of the newest overlay.
        delivered = threading.Timer(0.5, stream, (None, overlay))
        delivered.start()
        part = _get(stream.url + 'stream.mjpg')
        delivered.join()
        assert part.startswith(b'--ssformerframe\r\nContent-Type: image/jpeg')
        assert b'\xff\xd8' in part  # a JPEG starts
        with pytest.raises(urllib.error.HTTPError, match='404'):
            _get(stream.url + 'elsewhere')
    finally:
        stream.close()


def test_the_stream_asks_for_its_password_and_warns_when_exposed():
    stream = MjpegStream(port=0, auth=('nurse', 'secret'))
    try:
        stream(None, np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(urllib.error.HTTPError, match='401'):
            _get(stream.url + 'frame.jpg')
        assert _get(stream.url + 'frame.jpg', ('nurse', 'secret'))
    finally:
        stream.close()
    with pytest.warns(ExposedWithoutAuthWarning, match='live overlay'):
        MjpegStream(host='0.0.0.0', port=0).close()


class _Camera:
    """Frames pushed into an MJPEG stream at 25 frames/s until stopped: a
    network camera on loopback."""

    def __init__(self):
        self.stream = MjpegStream(port=0)
        self.url = self.stream.url + 'stream.mjpg'
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._push, daemon=True)
        self.thread.start()

    def _push(self) -> None:
        rng = np.random.default_rng(0)
        while not self.stopped.is_set():
            frame, _ = render_frame(rng, (72, 96), 1)
            self.stream(None, frame)
            self.stopped.wait(1 / CLIP_FPS)

    def disconnect(self) -> None:
        self.stopped.set()
        self.stream.close()


def test_a_stream_is_read_live_until_it_disconnects(slow_segmenter, tmp_path):
    camera = _Camera()
    calls = []

    def on_call():
        calls.append(1)
        if len(calls) == 5:
            camera.disconnect()

    slow_segmenter.runtime.on_call = on_call
    try:
        summary = live_session(
            slow_segmenter,
            LiveOptions(source=camera.url, out_dir=str(tmp_path), record=True))
    finally:
        camera.disconnect()
    assert summary.end_reason == ('the source stopped delivering frames '
                                  '(ended or disconnected)')
    assert summary.processed >= 5
    with open(tmp_path / CSV_FILE) as f:
        indices = [int(row['index']) for row in csv.DictReader(f)]
    assert len(indices) == summary.processed
    check_video(
        str(tmp_path / RECORDING_FILE), indices[-1] - indices[0] + 1, (96, 72))


def test_sources_are_told_apart():
    assert source_kind('0') == ('camera', 0)
    assert source_kind('/dev/video2') == ('device', '/dev/video2')
    assert source_kind('rtsp://host/live')[0] == 'stream'
    assert source_kind('udp://@:1234')[0] == 'stream'
    assert source_kind('clip.mp4') == ('file', 'clip.mp4')


def test_sources_that_cannot_be_opened_are_named(clip, tmp_path):
    with pytest.raises(LiveSourceError, match='missing.mp4: no such video'):
        LiveSource(str(tmp_path / 'missing.mp4'), realtime=True)
    with pytest.raises(LiveSourceError, match='/dev/video99: no such'):
        LiveSource('/dev/video99')
    with pytest.raises(LiveSourceError, match='63: no camera with this'):
        LiveSource('63')
    with pytest.raises(ValueError, match='--realtime'):
        LiveSource(clip)
    # Nothing listens on port 9 here: refused (or timed out), named.
    with pytest.raises(LiveSourceError, match='rtsp://127.0.0.1:9/live'):
        LiveSource('rtsp://127.0.0.1:9/live', open_timeout_s=3)


def test_outputs_write_what_they_are_given(tmp_path):
    csv_output = LiveCsv(str(tmp_path / 'frames.csv'))
    recording = OverlayRecording(str(tmp_path / 'rec.mp4'), 10.0)
    from ssformer_mmseg.apis.live import LiveFrame
    overlay = np.zeros((32, 48, 3), np.uint8)
    for index in (2, 5):
        record = LiveFrame(index, 0.1 * index, 1.0, 2.0, index - 1, 12.5)
        csv_output(record, overlay)
        recording(record, overlay)
    csv_output.close()
    recording.close()
    assert recording.frames_written == 4  # 2, (3, 4 repeated), 5
    check_video(str(tmp_path / 'rec.mp4'), 4, (48, 32))
    with open(tmp_path / 'frames.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['index'] for r in rows] == ['2', '5']
    # Nothing processed: no recording file at all.
    empty = OverlayRecording(str(tmp_path / 'none.mp4'), 10.0)
    empty.close()
    assert not (tmp_path / 'none.mp4').exists()


def test_the_live_tool_end_to_end(make_tiny_model, clip, run_tool, tmp_path):
    model = make_tiny_model(tmp_path / 'model')
    out = tmp_path / 'live'
    result = run_tool('tools/live.py', model['config'], model['checkpoint'],
                      '--source', clip, '--realtime', '--out-dir', out,
                      '--record', '--serve')
    assert result.code == 0, result.output
    assert 'streaming the overlays on http://127.0.0.1:' in result.stdout
    assert f'{CLIP_FRAMES} frames in' in result.stdout
    assert 'ended: the end of the file' in result.stdout
    summary = json.loads((out / SUMMARY_FILE).read_text())
    with open(out / CSV_FILE) as f:
        assert len(list(csv.DictReader(f))) == summary['processed']
    assert (out / RECORDING_FILE).is_file()
    result = run_tool('tools/live.py', model['config'], model['checkpoint'],
                      '--source', tmp_path / 'nothing.mp4', '--realtime')
    assert result.code == 1
    assert 'nothing.mp4: no such video file' in result.stderr
