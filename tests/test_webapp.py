"""The web app: its upload checks, the review tab's run folder (and that it
opens nothing outside it), the served page through gradio_client, and one
check in a real headless browser."""
import csv
import os
import os.path as osp
import shutil
import warnings
import zipfile

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ssformer_mmseg.apis import PolypSegmenter
from ssformer_mmseg.apis.inputs import VideoSource
from ssformer_mmseg.apis.writers import VideoOverlayWriter
from ssformer_mmseg.datasets.image_io import MAX_PIXELS_ENV
from ssformer_mmseg.evaluation import run_folder
from ssformer_mmseg.webapp import review, segment

gradio = pytest.importorskip('gradio')
gradio_client = pytest.importorskip('gradio_client')

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
#: CI installs Chromium: there the browser check must run, never skip.
REQUIRE_BROWSER = os.environ.get('SSFORMER_REQUIRE_BROWSER') == '1'
SETS = ('Kvasir', 'CVC-ClinicDB')


def _frame(seed: int, shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 255, (*shape, 3), dtype=np.uint8)


def _write(path, image) -> str:
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return str(path)


# Uploads ---------------------------------------------------------------------


def _bad_uploads(folder):
    """name -> (path, words the message must hold)."""
    good = _write(folder / 'good.jpg', _frame(0))
    truncated = folder / 'truncated.jpg'
    truncated.write_bytes(open(good, 'rb').read()[:300])
    text = folder / 'notes.txt'
    text.write_text('not an image')
    fake = folder / 'fake.png'
    fake.write_text('not a png either')
    return dict(
        not_an_image=(text, 'not an image'),
        undecodable=(fake, 'fake.png'),
        truncated=(truncated, 'truncated.jpg'),
        sixteen_bit=(_write(folder / 'deep.png',
                            np.full((20, 20, 3), 40000, np.uint16)), '16'),
        grey=(_write(folder / 'grey.png', np.full((20, 20), 90,
                                                  np.uint8)), 'grayscale'),
        too_big=(_write(folder / 'big.png', _frame(1, (200, 300))),
                 '(60,000 pixels), over the limit of '))


@pytest.mark.parametrize('kind', [
    'not_an_image', 'undecodable', 'truncated', 'sixteen_bit', 'grey',
    'too_big'
])
def test_bad_uploads_are_refused_by_name(kind, tmp_path, monkeypatch):
    path, words = _bad_uploads(tmp_path)[kind]
    monkeypatch.setenv(MAX_PIXELS_ENV, str(100 * 100))
    with pytest.raises(segment.UploadError) as error:
        segment.read_upload_image(str(path))
    assert words in str(error.value)
    # The message names the file, not the temporary folder it sits in.
    assert osp.basename(str(path)) in str(error.value)
    assert str(tmp_path) not in str(error.value)


def _write_video(path, frames, fps=10.0) -> str:
    height, width = frames[0].shape[:2]
    with VideoOverlayWriter(str(path), fps, (width, height)) as writer:
        for frame in frames:
            writer.write(frame)
    return str(path)


class _CountingSegmenter:
    """Wraps a segmenter, counting the frames it is given."""

    def __init__(self, segmenter):
        self.inner, self.frames = segmenter, 0
        self.backend, self.precision = segmenter.backend, segmenter.precision
        self.threshold, self.device = segmenter.threshold, segmenter.device

    def __call__(self, frames):
        self.frames += len(frames)
        return self.inner(frames)


def test_video_is_segmented_frame_by_frame(tiny_segmenter, tmp_path):
    frames = [_frame(i) for i in range(5)]
    video = _write_video(tmp_path / 'clip.mp4', frames)
    progress = []
    counting = _CountingSegmenter(tiny_segmenter)
    result = segment.segment_video(
        counting,
        video,
        str(tmp_path / 'session'),
        batch_size=2,
        progress=lambda done, total: progress.append(done))
    assert [f.name
            for f in result.frames] == [f'clip_{i:06d}' for i in range(5)]
    assert counting.frames == 5 and progress[-1] == 5
    assert result.fps == pytest.approx(10.0)
    with VideoSource(video) as source:
        decoded = [image for _, image in source.frames()]
    # The stored 8-bit maps are the segmenter's maps of the decoded frames;
    # the frames are kept as JPEG copies (display only).
    for item, prob, image in zip(result.frames, tiny_segmenter(decoded),
                                 decoded):
        assert item.prob().dtype == np.uint8
        np.testing.assert_array_equal(item.prob_map(),
                                      segment.to_uint8_map(prob))
        assert item.frame().shape == image.shape
        # Random noise is JPEG's worst case (mean error 13.4 measured).
        assert np.abs(item.frame().astype(int) - image).mean() < 20
    # Nothing of the result is in memory: the session folder holds it.
    assert sorted(os.listdir(tmp_path / 'session')) == ['frames', 'probs']
    files = segment.downloads(result, 0.5, str(tmp_path / 'downloads'))
    assert [osp.basename(f) for f in files] == ['masks.zip', 'overlay.mp4']
    capture = cv2.VideoCapture(files[1])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()


def test_bad_videos_are_refused(tiny_segmenter, tmp_path, monkeypatch):
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'\x00' * 2000)
    folder = str(tmp_path / 'session')
    with pytest.raises(segment.UploadError, match='junk.mp4'):
        segment.segment_video(tiny_segmenter, str(junk), folder)
    with pytest.raises(segment.UploadError, match='not a video'):
        segment.segment_video(tiny_segmenter,
                              _write(tmp_path / 'frame.png', _frame(0)),
                              folder)
    long = _write_video(tmp_path / 'long.mp4', [_frame(i) for i in range(6)])
    with pytest.raises(
            segment.UploadError,
            match=r'long.mp4: 6 frames, over the limit of 4 per request '
            r"\(the server's --max-video-frames sets it\)"):
        segment.segment_video(tiny_segmenter, long, folder,
                              segment.Budget(max_video_frames=4))
    with pytest.raises(
            segment.UploadError,
            match=r'long.mp4: 18,432 pixels \(6 frames\), over the limit '
            r"of 10,000 per request \(the server's --max-request-pixels"):
        segment.segment_video(tiny_segmenter, long, folder,
                              segment.Budget(max_request_pixels=10000))
    monkeypatch.setenv(MAX_PIXELS_ENV, '100')
    with pytest.raises(segment.UploadError, match='over the limit of 100 '):
        segment.segment_video(tiny_segmenter, long, folder)


# A test run folder -----------------------------------------------------------


def _sample(prob, truth, image_path, test_set) -> SegDataSample:
    sample = SegDataSample(
        metainfo=dict(
            img_path=image_path,
            seg_map_path=image_path.replace('images', 'masks'),
            ori_shape=truth.shape,
            dataset_name=test_set))
    sample.seg_logits = PixelData(data=torch.as_tensor(prob)[None])
    sample.gt_sem_seg = PixelData(
        data=torch.as_tensor(truth.astype(np.int64))[None])
    return sample


@pytest.fixture(scope='module')
def test_run(tmp_path_factory):
    """A run folder as ``tools/test.py --out`` writes it (PolypMetric with
    ``review_dir``), for 5 images of two sets whose predictions are the
    ground truth shifted by growing amounts (so their Dice differ)."""
    root = tmp_path_factory.mktemp('run')
    data, out = root / 'data', root / 'out'
    evaluator = Evaluator([dict(type='PolypMetric', review_dir=str(out))])
    evaluator.dataset_meta = dict(classes=('background', 'polyp'))
    samples = []
    for i in range(5):
        test_set = SETS[i % 2]
        truth = np.zeros((40, 50), np.uint8)
        truth[10:30, 10:30] = 1
        prob = np.roll(truth, 3 * i, axis=1).astype(np.float32) * 0.9
        image = _write(data / test_set / 'images' / f'case{i}.jpg',
                       _frame(i, (40, 50)))
        samples.append(_sample(prob, truth, image, test_set))
    evaluator.process(data_samples=samples, data_batch=None)
    evaluator.evaluate(len(samples))
    return out


def _csv_rows(folder) -> list:
    with open(osp.join(folder, run_folder.PER_IMAGE_CSV), newline='') as f:
        return list(csv.DictReader(f))


def test_run_folder_holds_what_the_review_reads(test_run):
    for i in range(5):
        test_set = SETS[i % 2]
        for relative in (run_folder.prob_map_file(test_set, f'case{i}'),
                         run_folder.ground_truth_file(test_set, f'case{i}'),
                         osp.join(
                             run_folder.frames_folder(test_set),
                             f'case{i}.jpg')):
            assert osp.isfile(test_run / relative), relative
    with open(test_run / run_folder.CURVES_CSV, newline='') as f:
        curves = list(csv.DictReader(f))
    assert len(curves) == 256 and list(curves[0]) == ['threshold', *SETS]
    assert float(curves[0]['threshold']) == 1.0
    assert float(curves[-1]['threshold']) == 0.0


def test_review_table_is_the_csv_sorted_by_dice(test_run):
    run = review.TestRun(str(test_run))
    rows = _csv_rows(test_run)
    expected = sorted(rows, key=lambda r: float(r['mDice']))
    assert [(r[0], r[1]) for r in run.table()] == [(r['test_set'], r['image'])
                                                   for r in expected]
    dice = [r[2] for r in run.table()]
    assert dice == sorted(dice) and dice[0] < dice[-1]
    kvasir = run.table('Kvasir')
    assert {r[0] for r in kvasir} == {'Kvasir'} and len(kvasir) == 3
    assert run.test_sets == list(SETS)


def test_review_panels_and_error_map(test_run):
    run = review.TestRun(str(test_run))
    panels = run.panels('Kvasir', 'case2')
    assert {k: v.shape
            for k, v in panels.items()} == {
                k: (40, 50, 3)
                for k in ('frame', 'ground_truth', 'prediction', 'errors')
            }
    # case2: the 20x20 square shifted 6 px right, predicted at 0.9.
    errors = panels['errors']
    assert tuple(errors[20, 12]) == review.FALSE_NEGATIVE  # missed
    assert tuple(errors[20, 33]) == review.FALSE_POSITIVE  # extra
    assert tuple(errors[20, 20]) == review.TRUE_POSITIVE
    assert tuple(errors[2, 2]) == (0, 0, 0)
    np.testing.assert_array_equal(
        panels['frame'],
        cv2.cvtColor(
            cv2.imread(str(test_run / 'review/frames/Kvasir/case2.jpg')),
            cv2.COLOR_BGR2RGB))
    # Above the prediction's 0.9 nothing is predicted: every polyp pixel
    # is a false negative.
    high = run.panels('Kvasir', 'case2', threshold=0.95)['errors']
    assert tuple(high[20, 20]) == review.FALSE_NEGATIVE


def _copy_run(test_run, tmp_path):
    copy = tmp_path / 'run'
    shutil.copytree(test_run, copy)
    return copy


def test_review_opens_nothing_outside_the_run(test_run, tmp_path):
    copy = _copy_run(test_run, tmp_path)
    secret = tmp_path / 'secret'
    _write(secret / 'case0.png', np.full((40, 50), 255, np.uint8))
    run = review.TestRun(str(copy))
    for relative in ('../secret/case0.png', '/etc/passwd',
                     'Kvasir/../../secret/case0.png'):
        with pytest.raises(review.OutsideTheRun):
            run.file(relative)
    # A CSV whose names climb out of the folder.
    rows = _csv_rows(copy)
    rows[0]['test_set'] = '../secret'
    rows[0]['image'] = 'case0'
    with open(copy / run_folder.PER_IMAGE_CSV, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    run = review.TestRun(str(copy))
    with pytest.raises(review.OutsideTheRun):
        run.panels('../secret', 'case0')
    # A ground truth replaced by a link to a file outside.
    truth = copy / run_folder.ground_truth_file('Kvasir', 'case2')
    truth.unlink()
    truth.symlink_to(secret / 'case0.png')
    with pytest.raises(review.OutsideTheRun, match='outside the run'):
        run.panels('Kvasir', 'case2')
    # A linked set folder is refused as well.
    shutil.rmtree(copy / 'CVC-ClinicDB')
    (copy / 'CVC-ClinicDB').symlink_to(secret, target_is_directory=True)
    with pytest.raises(review.OutsideTheRun):
        run.panels('CVC-ClinicDB', 'case1')


def test_a_folder_that_is_not_a_run_is_named(test_run, tmp_path):
    with pytest.raises(review.NotATestRun, match='no such folder'):
        review.TestRun(str(tmp_path / 'missing'))
    with pytest.raises(review.NotATestRun, match='not a test run'):
        review.TestRun(str(tmp_path))
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / run_folder.PER_IMAGE_CSV).write_text('a,b\n1,2\n')
    with pytest.raises(review.NotATestRun, match='no test_set, image'):
        review.TestRun(str(bad))
    # A run whose files went missing: named in the message.
    copy = _copy_run(test_run, tmp_path)
    os.remove(copy / 'Kvasir' / 'case0.png')
    with pytest.raises(review.NotATestRun, match='prediction file'):
        review.TestRun(str(copy)).panels('Kvasir', 'case0')
    # The CSV linked from elsewhere is not read either.
    linked = tmp_path / 'linked'
    linked.mkdir()
    (linked / run_folder.PER_IMAGE_CSV).symlink_to(test_run /
                                                   run_folder.PER_IMAGE_CSV)
    with pytest.raises(review.OutsideTheRun):
        review.TestRun(str(linked))


# The served app --------------------------------------------------------------


@pytest.fixture(scope='module')
def tiny_segmenter(make_tiny_config):
    torch.manual_seed(0)
    return PolypSegmenter(make_tiny_config())


def _client(url, folder):
    """A client that downloads the outputs into ``folder``."""
    return gradio_client.Client(url, verbose=False, download_files=str(folder))


@pytest.fixture(scope='module')
def served(tiny_segmenter, test_run, tmp_path_factory):
    """The app on a free loopback port, with a client."""
    from ssformer_mmseg.webapp import WebApp
    app = WebApp(tiny_segmenter, port=_free_port(), review_dir=str(test_run))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MAX_PIXELS_ENV, str(150 * 150))
        app.start()
        client = _client(app.url, tmp_path_factory.mktemp('downloads'))
        yield app, client
        app.close()


def _free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _upload(path):
    return gradio_client.handle_file(str(path))


def _segment(client, paths, video=None, threshold=0.5):
    return client.predict(
        [_upload(p) for p in paths] if paths else None,
        _upload(video) if video else None,
        threshold,
        api_name='/segment')


def test_served_on_loopback_only(served):
    app, _ = served
    assert app.url.startswith('http://127.0.0.1:')


def test_an_uploaded_frame_gets_the_segmenters_mask(served, tiny_segmenter,
                                                    tmp_path):
    app, client = served
    frames = [_frame(10, (60, 80)), _frame(11, (50, 70))]
    paths = [_write(tmp_path / f'f{i}.png', f) for i, f in enumerate(frames)]
    summary, slider, overlay, heat, mask, caption, timing, files = _segment(
        client, paths, threshold=0.45)
    probs = tiny_segmenter(frames)
    expected = [(p > 0.45).astype(np.uint8) * 255 for p in probs]
    shown = cv2.imread(mask, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(shown, expected[0])
    assert cv2.imread(overlay).shape == (60, 80, 3)
    assert 'pytorch fp32' in summary and 'pytorch fp32' in caption
    assert [row[0] for row in timing['data']] == ['f0.png', 'f1.png']
    assert all(row[2] > 0 for row in timing['data'])  # ms per frame
    assert slider['visible'] and slider['maximum'] == 1
    with zipfile.ZipFile(files[0]) as archive:
        assert archive.namelist() == ['f0.png', 'f1.png']
        for name, want in zip(archive.namelist(), expected):
            got = cv2.imdecode(
                np.frombuffer(archive.read(name), np.uint8),
                cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(got, want)
    # Uploads and downloads live in the app's temporary folder.
    kept = [f for _, _, names in os.walk(app.temp_dir) for f in names]
    assert {'f0.png', 'f1.png', 'masks.zip'} <= set(kept)


def test_threshold_redraws_without_running_the_network(served, tiny_segmenter,
                                                       tmp_path, monkeypatch):
    app, client = served
    frame = _frame(12, (60, 80))
    path = _write(tmp_path / 'f.png', frame)
    _segment(client, [path])
    calls = []
    real = PolypSegmenter.__call__
    monkeypatch.setattr(PolypSegmenter, '__call__',
                        lambda self, f: calls.append(1) or real(self, f))
    overlay, heat, mask, caption, timing, files = client.predict(
        0.6, 0, api_name='/rethreshold')
    assert calls == []
    prob = real(tiny_segmenter, [frame])[0]
    np.testing.assert_array_equal(
        cv2.imread(mask, cv2.IMREAD_UNCHANGED),
        (prob > 0.6).astype(np.uint8) * 255)


def test_bad_uploads_get_a_message_and_the_server_stays_up(served, tmp_path):
    app, client = served
    for kind, (path, words) in _bad_uploads(tmp_path).items():
        with pytest.raises(Exception) as error:
            _segment(client, [path])
        assert words in str(error.value), (kind, str(error.value))
    with pytest.raises(Exception, match='Upload one or more images'):
        _segment(client, None)
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'\x00' * 1000)
    with pytest.raises(Exception, match='junk.mp4'):
        _segment(client, None, video=junk)
    # Still serving.
    good = _write(tmp_path / 'ok.png', _frame(3))
    assert 'pytorch' in _segment(client, [good])[0]


def test_a_video_upload_gives_masks_and_the_overlay_video(served, tmp_path):
    app, client = served
    video = _write_video(tmp_path / 'clip.mp4', [_frame(i) for i in range(4)])
    out = _segment(client, None, video=video)
    summary, slider, files = out[0], out[1], out[-1]
    assert '4 video frames' in summary and slider['maximum'] == 3
    assert sorted(osp.basename(f)
                  for f in files) == ['masks.zip', 'overlay.mp4']
    frame = client.predict(0.5, 2, api_name='/show_frame')
    assert 'clip_000002' in frame[3]


def test_review_table_through_the_page(served, test_run):
    app, client = served
    summary, sets, table, image, curve = client.predict(
        str(test_run), api_name='/open_run')
    rows = _csv_rows(test_run)
    # Per set: the mean of the CSV's values, with an interval around it.
    by_set = {r[0]: r for r in summary['data']}
    assert set(by_set) == {r['test_set'] for r in rows} | {'mean'}
    kvasir = [float(r['meanDic']) for r in rows if r['test_set'] == 'Kvasir']
    assert by_set['Kvasir'][1] == len(kvasir)
    value, bounds = by_set['Kvasir'][4].split(' (')
    assert float(value) == pytest.approx(np.mean(kvasir), abs=1e-4)
    low, high = (float(v) for v in bounds.rstrip(')').split('–'))
    assert low <= float(value) <= high
    expected = sorted(rows, key=lambda r: float(r['mDice']))
    assert [(r[0], r[1]) for r in table['data']
            ] == [(r['test_set'], r['image']) for r in expected]
    assert image['value'] == f'{expected[0]["test_set"]}/' \
        f'{expected[0]["image"]}'
    table, image = client.predict('Kvasir', api_name='/filter_run')
    assert {r[0] for r in table['data']} == {'Kvasir'}
    *panels, scores = client.predict(
        'Kvasir/case2', 0.5, api_name='/show_image')
    assert all(cv2.imread(p) is not None for p in panels)
    assert 'Kvasir/case2' in scores and 'mDice' in scores


def test_review_of_a_folder_that_is_not_a_run(served, tmp_path):
    app, client = served
    with pytest.raises(Exception, match='not a test run'):
        client.predict(str(tmp_path), api_name='/open_run')
    # Only the run's own images can be asked for (Gradio checks the
    # choices), so no name from the page reaches the file system.
    for key in ('Kvasir/nothing', '../secret/case0'):
        with pytest.raises(Exception, match='not in the list of choices'):
            client.predict(key, 0.5, api_name='/show_image')


def test_closing_removes_the_temporary_folder(tiny_segmenter, tmp_path):
    from ssformer_mmseg.webapp import WebApp
    with WebApp(tiny_segmenter, port=_free_port()) as app:
        app.start()
        client = _client(app.url, tmp_path / 'downloads')
        _segment(client, [_write(tmp_path / 'f.png', _frame(0))])
        assert os.listdir(app.temp_dir)
    assert not osp.exists(app.temp_dir)


def test_the_page_sends_no_telemetry(tiny_segmenter, tmp_path):
    from ssformer_mmseg.webapp import build_app

    # Off, Gradio starts neither its version check nor its usage reports.
    assert build_app(tiny_segmenter, str(tmp_path)).analytics_enabled is False


@pytest.mark.parametrize('stop', ['SIGINT', 'SIGTERM'])
def test_the_tool_serves_until_ctrl_c_and_cleans_up(tiny_config_file,
                                                    tiny_cli_options, stop):
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    from conftest import REPO_ROOT
    port = _free_port()
    # Started with SIGINT ignored, as a child of a parent that ignores it
    # would be: the tool must still stop on Ctrl-C.
    tool = subprocess.Popen(
        [
            sys.executable, 'tools/webapp.py', tiny_config_file, '--port',
            str(port), '--cfg-options', *tiny_cli_options
        ],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    try:
        lines = []
        for line in tool.stdout:
            lines.append(line)
            if line.startswith('serving on'):
                break
        served = re.match(r'serving on (\S+) \(uploads in (\S+),', lines[-1])
        assert served, ''.join(lines)[-2000:]
        url, temp_dir = served.groups()
        assert url == f'http://127.0.0.1:{port}/'
        assert osp.isdir(temp_dir)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        # Ctrl-C, or a service manager's stop: both clean up.
        tool.send_signal(getattr(signal, stop))
        assert tool.wait(timeout=60) == 0
    finally:
        tool.kill()
    assert not osp.exists(temp_dir)


# Hardening: budgets, sessions, fairness, exposure ---------------------------


def test_requests_over_budget_are_refused_before_decoding(
        tiny_segmenter, tmp_path, write_png_header, monkeypatch):
    paths = [_write(tmp_path / f'f{i}.png', _frame(i)) for i in range(3)]
    folder = str(tmp_path / 'session')
    with pytest.raises(
            segment.UploadError,
            match=r"3 images, over the limit of 2 per request \(the "
            r"server's --max-files sets it\)"):
        segment.segment_images(tiny_segmenter, paths, folder,
                               segment.Budget(max_files=2))
    # Pixels are summed from the headers: a 254-byte file claiming
    # 4000x4000 counts as such, and nothing is decoded.
    write_png_header(tmp_path / 'claims.png', 4000, 4000)
    monkeypatch.setattr(cv2, 'imdecode',
                        lambda *a: pytest.fail('decoded over budget'))
    with pytest.raises(
            segment.UploadError,
            match=r'16,009,216 pixels in 4 images, over the limit of '
            r"10,000,000 per request \(the server's --max-request-pixels"):
        segment.segment_images(tiny_segmenter,
                               paths + [str(tmp_path / 'claims.png')], folder,
                               segment.Budget(max_request_pixels=10**7))
    assert not osp.exists(folder)


def test_a_result_holds_no_pixels_in_memory(tiny_segmenter, tmp_path):
    paths = [
        _write(tmp_path / f'{i}.png', _frame(i, (96, 128))) for i in range(3)
    ]
    result = segment.segment_images(tiny_segmenter, paths,
                                    str(tmp_path / 'session'))
    for item in result.frames:
        arrays = [v for v in vars(item).values() if isinstance(v, np.ndarray)]
        assert [a.size for a in arrays] == [256]  # the level counts only
    # The masks are the segmenter's, read back from disk.
    for item, prob in zip(
            result.frames,
            tiny_segmenter([_frame(i, (96, 128)) for i in range(3)])):
        np.testing.assert_array_equal(
            item.mask(0.5), (prob > 0.5).astype(np.uint8) * 255)
        assert item.polyp_share(0.5) == pytest.approx(
            float((segment.to_uint8_map(prob) > 127.5).mean()))
    result.discard()
    assert not osp.exists(tmp_path / 'session')


def test_uploads_with_one_stem_keep_separate_masks(tiny_segmenter, tmp_path):
    paths = [
        _write(tmp_path / 'a' / 'f.png', _frame(1)),
        _write(tmp_path / 'b' / 'f.jpg', _frame(2)),
        _write(tmp_path / 'c' / 'f.png', _frame(3))
    ]
    result = segment.segment_images(tiny_segmenter, paths,
                                    str(tmp_path / 'session'))
    zipped = segment.downloads(result, 0.5, str(tmp_path / 'downloads'))[0]
    with zipfile.ZipFile(zipped) as archive:
        assert archive.namelist() == ['f.png', 'f_2.png', 'f_3.png']


def test_a_session_keeps_its_newest_result_only(tiny_segmenter, tmp_path):
    from ssformer_mmseg.webapp import WebApp
    with WebApp(tiny_segmenter, port=_free_port()) as app:
        app.start()
        client = _client(app.url, tmp_path / 'downloads')
        sessions = osp.join(app.temp_dir, 'sessions')
        _segment(client, [_write(tmp_path / 'a.png', _frame(1))])
        first = os.listdir(sessions)
        assert len(first) == 1
        # A refused request leaves the result there, still on view.
        (tmp_path / 'b.txt').write_text('not a frame')
        with pytest.raises(Exception, match='not an image'):
            _segment(client, [tmp_path / 'b.txt'])
        assert os.listdir(sessions) == first
        assert 'a.png' in client.predict(0.5, 0, api_name='/show_frame')[3]
        _segment(client, [_write(tmp_path / 'c.png', _frame(3))])
        second = os.listdir(sessions)
        assert len(second) == 1 and second != first


def test_idle_session_folders_are_swept(tmp_path):
    from ssformer_mmseg.webapp.serving import SessionFolders
    sessions = SessionFolders(str(tmp_path / 'sessions'), idle_seconds=60)
    old, new = sessions.new(), sessions.new()
    (tmp_path / 'sessions' / old / 'x').write_text('frame')
    long_ago = os.path.getmtime(old) - 3600
    for path in (old, osp.join(old, 'x')):
        os.utime(path, (long_ago, long_ago))
    assert sessions.sweep() == [old]
    assert osp.isdir(new) and not osp.exists(old)


def test_a_sweep_meets_folders_removed_meanwhile(tmp_path, monkeypatch):
    # Another request's sweep, or a session replacing its result, may remove
    # a folder between the listing and its stat (seen in the load test as an
    # internal error of an unrelated request).
    from ssformer_mmseg.webapp import serving
    sessions = serving.SessionFolders(str(tmp_path / 'sessions'), 60)
    kept = sessions.new()
    listdir = os.listdir
    monkeypatch.setattr(serving.os, 'listdir',
                        lambda path: [*listdir(path), 'removed-meanwhile'])
    assert sessions.sweep() == []
    assert osp.isdir(kept)


def test_requests_at_once_get_their_own_numbered_folders(
        tmp_path, monkeypatch):
    # Two views (or downloads) of one session at once, e.g. the frame slider
    # moved while the threshold is redrawn: the request that lists second
    # must not take the number the first just made.
    from ssformer_mmseg.webapp import serving
    parent = str(tmp_path / 'views')
    made = [serving.numbered_folder(parent) for _ in range(6)]
    assert [osp.basename(f) for f in made] == ['0', '1', '2', '3', '4', '5']
    # The newest KEPT_FOLDERS stay (the one just made included).
    assert sorted(os.listdir(parent)) == ['2', '3', '4', '5']
    listdir = os.listdir
    monkeypatch.setattr(serving.os, 'listdir',
                        lambda path: [n for n in listdir(path) if n != '5'])
    assert osp.basename(serving.numbered_folder(parent)) == '6'
    picture = np.zeros((4, 4, 3), np.uint8)
    paths = serving.picture_files(str(tmp_path), [picture, picture[..., 0]])
    assert [osp.basename(p) for p in paths] == ['0.png', '1.png']
    assert cv2.imread(paths[1], cv2.IMREAD_UNCHANGED).ndim == 2


def test_the_model_serves_requests_in_arrival_order():
    import threading
    import time

    from ssformer_mmseg.webapp.serving import SharedSegmenter

    calls = []

    class Model:
        """Holds the video's second batch until the single frame waits."""

        def __call__(self, frames):
            calls.append(frames[0])
            if calls == ['v', 'v']:
                while not shared.lock._waiting:
                    time.sleep(0.001)
            return frames

    shared = SharedSegmenter(Model())

    def video():  # back to the model at once after each batch
        for _ in range(5):
            shared(['v'])

    runs = [threading.Thread(target=video)]
    runs[0].start()
    while len(calls) < 2:
        time.sleep(0.001)
    runs.append(threading.Thread(target=shared, args=(['f'], )))
    runs[1].start()
    for run in runs:
        run.join()
    # The frame ran right after the batch it waited for, not after the
    # video (a plain lock lets the thread that releases it take it back).
    assert calls == ['v', 'v', 'f', 'v', 'v', 'v']


def test_review_opens_only_runs_under_the_review_folder(test_run, tmp_path):
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    for folder in (str(outside), str(tmp_path / 'missing'), '../..', '/etc'):
        with pytest.raises(review.NotATestRun) as error:
            review.open_under(str(test_run), folder)
        # One message whether it exists or not; no server path in it.
        assert str(error.value) == (f'{folder!r}: not a test run folder '
                                    'under the review folder')
    assert review.open_under(str(test_run), '.').test_sets
    assert review.open_under(str(test_run), str(test_run)).test_sets


def test_a_bad_curves_file_is_a_message(test_run, tmp_path):
    copy = tmp_path / 'run'
    shutil.copytree(test_run, copy)
    (copy / run_folder.CURVES_CSV).write_text('threshold,Kvasir\n0.5,high\n')
    with pytest.raises(
            review.NotATestRun, match='not a Dice-vs-threshold table'):
        review.TestRun(str(copy)).dice_curves()


def test_unexpected_errors_show_no_internals(served, tmp_path, monkeypatch,
                                             caplog):
    from ssformer_mmseg.webapp import app as app_module
    _, client = served
    _segment(client, [_write(tmp_path / 'f.png', _frame(5))])

    def broken(*args):
        raise RuntimeError('/srv/secret/path: library internals')

    monkeypatch.setattr(segment, 'pictures', broken)
    with pytest.raises(Exception) as error:
        client.predict(0.5, 0, api_name='/show_frame')
    assert app_module.INTERNAL_ERROR in str(error.value)
    assert 'secret' not in str(error.value)
    assert '/srv/secret/path' in caplog.text  # the details: server log


def test_authentication_and_the_exposed_warning(tiny_segmenter, tmp_path):
    from ssformer_mmseg.webapp import WebApp
    from ssformer_mmseg.webapp.server import (ExposedWithoutAuthWarning,
                                              is_loopback, parse_auth)
    assert parse_auth('ana:s3cret') == ('ana', 's3cret')
    for bad in ('ana', ':x', 'ana:'):
        with pytest.raises(ValueError, match='USER:PASS'):
            parse_auth(bad)
    assert is_loopback('127.0.0.1') and is_loopback('::1')
    assert not is_loopback('0.0.0.0') and not is_loopback('192.168.1.2')
    with WebApp(
            tiny_segmenter, port=_free_port(), auth=('ana', 's3cret')) as app:
        with warnings.catch_warnings():  # asking for a login: no warning
            warnings.simplefilter('error', ExposedWithoutAuthWarning)
            app.start()
        with pytest.raises(Exception):
            _client(app.url, tmp_path / 'd1')
        client = gradio_client.Client(
            app.url,
            auth=('ana', 's3cret'),
            verbose=False,
            download_files=str(tmp_path / 'd2'))
        assert 'pytorch' in _segment(
            client, [_write(tmp_path / 'f.png', _frame(0))])[0]
    with WebApp(tiny_segmenter, host='0.0.0.0', port=_free_port()) as app:
        with pytest.warns(
                ExposedWithoutAuthWarning,
                match='serving on 0.0.0.0 without authentication'):
            app.start()


@pytest.mark.slow
def test_four_clients_at_once_all_get_their_answers(served, tmp_path):
    # The load test: 4 clients x 20 requests, every fifth a 4-frame clip;
    # every answer is checked, the latencies printed (pytest -s).
    from ssformer_mmseg.webapp.load import peak_rss, run_load
    app, _ = served
    frames = [
        _write(tmp_path / f'f{i}.png', _frame(30 + i, (60, 80)))
        for i in range(5)
    ]
    clip = _write_video(tmp_path / 'clip.mp4', [_frame(i) for i in range(4)])
    with peak_rss() as memory:
        report = run_load(
            app.url,
            frames,
            clip,
            clients=4,
            requests=20,
            clip_frames=4,
            download_dir=str(tmp_path / 'downloads'))
    assert report.errors == []
    counts = {k: p['count'] for k, p in report.percentiles().items()}
    assert counts == {'frame': 64, 'clip': 16}
    print(f'\n{report.table()}\nwall {report.wall:.1f} s, peak RSS +'
          f'{memory.added / 2**20:.0f} MiB')


# A real browser --------------------------------------------------------------


def test_the_page_in_a_headless_browser(served, tmp_path):
    if CHROMIUM is None:
        if REQUIRE_BROWSER:
            pytest.fail('Chromium is required here but not installed')
        pytest.skip('no Chromium (apt-get install chromium)')
    playwright = pytest.importorskip('playwright.sync_api')
    app, _ = served
    frame = _write(tmp_path / 'frame.png', _frame(20, (120, 160)))
    shot = tmp_path / 'segment_tab.png'
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport=dict(width=1280, height=900))
            page.goto(app.url)
            page.locator('#segment-images input[type=file]').set_input_files(
                frame)
            page.get_by_role('button', name='Segment', exact=True).click()
            overlay = page.locator('#segment-overlay img')
            overlay.wait_for(state='visible', timeout=60000)
            page.wait_for_function(
                'img => img.complete && img.naturalWidth > 0',
                arg=overlay.element_handle(),
                timeout=60000)
            size = overlay.evaluate('img => [img.naturalWidth, '
                                    'img.naturalHeight]')
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert size == [160, 120]
    assert cv2.imread(str(shot)) is not None
