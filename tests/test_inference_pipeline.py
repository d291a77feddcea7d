"""The batch loop of inference (ssformer_mmseg.apis.batch_inference): skip
mode for unreadable frames, the overlapped reader / inference / writer
stages and how they fail, and the CVC-ClinicDB clip of
ssformer_mmseg.benchmark.video_clip.

The shared tiny SSFormer-S of conftest.py at a 64x64 input, with random
weights, on small synthetic frames; nothing is downloaded.
"""
import csv
import os
import os.path as osp
import threading

import cv2
import numpy as np
import pytest

from ssformer_mmseg.apis import (BatchRunner, PolypSegmenter, batch_inference,
                                 inputs, run_inference)
from ssformer_mmseg.apis.inputs import VideoSource
from ssformer_mmseg.apis.writers import VideoOverlayWriter
from ssformer_mmseg.benchmark import video_clip
from ssformer_mmseg.datasets import PolypFileError

# Network input of these tests: the loop is under test, not the model.
INPUT = 64
SIZES = [(41, 57), (30, 30), (52, 37), (48, 64), (33, 45)]


def frame(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random BGR frame (not pure noise, so predictions vary)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope='module')
def segmenter(make_tiny_config):
    cfg = make_tiny_config()
    assert cfg.test_pipeline[1]['type'] == 'Resize'
    cfg.test_pipeline[1]['scale'] = (INPUT, INPUT)
    segmenter = PolypSegmenter(cfg)
    segmenter([frame(20, 20, 0)])  # lazy set-up before threads are counted
    return segmenter


@pytest.fixture
def folder(tmp_path):
    """Five good frames (PNG and JPEG, five sizes)."""
    images = tmp_path / 'frames'
    images.mkdir()
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(
            str(images / f'good{i}.{"jpg" if i == 1 else "png"}'),
            frame(h, w, i))
    return images


@pytest.fixture
def add_bad_frames(write_png_header):
    """``add_bad_frames(folder)``: a 16-bit PNG, a truncated JPEG and a
    254-byte PNG claiming 60000x60000 (OpenCV's own error escaped before)
    among the good frames."""

    def add(images) -> None:
        deep = frame(40, 50, 7).astype(np.uint16) * 257
        cv2.imwrite(str(images / 'deep16.png'), deep)
        cv2.imwrite(str(images / 'cut.jpg'), frame(40, 50, 8))
        data = (images / 'cut.jpg').read_bytes()
        (images / 'cut.jpg').write_bytes(data[:len(data) // 2])
        write_png_header(images / 'bomb.png', 60000, 60000)

    return add


def written_files(root) -> dict:
    """Relative path -> bytes of every file under ``root`` (links left
    out)."""
    files = {}
    for parent, _, names in os.walk(root):
        for name in names:
            path = osp.join(parent, name)
            if osp.islink(path):
                continue
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


def stage_threads() -> list:
    return [t for t in threading.enumerate() if t.name.startswith('ssformer-')]


@pytest.fixture
def no_thread_left():
    """Checks after the test that it left no thread running."""
    before = set(threading.enumerate())
    yield
    assert not stage_threads()
    assert set(threading.enumerate()) <= before


# Skip mode -------------------------------------------------------------------


@pytest.mark.parametrize('overlap', [True, False])
def test_skip_mode_keeps_good_outputs_and_reports_bad_frames(
        segmenter, folder, tmp_path, overlap, no_thread_left, add_bad_frames):
    add_bad_frames(folder)
    out = tmp_path / 'out'
    summary = run_inference(
        segmenter,
        str(folder),
        str(out),
        batch_size=2,
        progress=False,
        skip_bad_frames=True,
        overlap=overlap)
    assert summary['frames'] == len(SIZES)
    good = sorted(f'good{i}.png' for i in range(len(SIZES)))
    for kind in ('masks', 'probs', 'overlays'):
        assert sorted(os.listdir(out / kind)) == good
    # In input (sorted) order, with the checked reader's reasons.
    skipped = summary['skipped_frames']
    assert [s['name']
            for s in skipped] == ['bomb.png', 'cut.jpg', 'deep16.png']
    assert skipped[0]['reason'].startswith('image has 3,600,000,000 pixels, '
                                           'over the limit of ')
    assert 'truncated JPEG' in skipped[1]['reason']
    assert skipped[2]['reason'] == '16-bit image; expected 8 bits'
    assert summary['skipped_report'] == str(out / 'skipped_frames.csv')
    with open(out / 'skipped_frames.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows == [['name', 'reason']] + [[s['name'], s['reason']]
                                           for s in skipped]


@pytest.mark.parametrize('overlap', [True, False])
def test_default_mode_aborts_and_leaves_nothing(segmenter, folder, tmp_path,
                                                overlap, no_thread_left,
                                                add_bad_frames):
    add_bad_frames(folder)
    out = tmp_path / 'out'
    with pytest.raises(
            PolypFileError, match=r'bomb\.png: image has .* over the limit'):
        run_inference(
            segmenter, str(folder), str(out), progress=False, overlap=overlap)
    assert not out.exists()


def test_a_bad_frame_fails_the_run_as_the_sequential_loop_does(
        segmenter, folder, tmp_path, no_thread_left):
    """The frames before it are written, then removed: the same files."""
    cv2.imwrite(str(folder / 'zz_grey.png'), frame(30, 40, 9)[..., 0])
    notes = {}
    for overlap in (False, True):
        out = tmp_path / str(overlap)
        with pytest.raises(
                PolypFileError, match='zz_grey.png: grayscale') as info:
            run_inference(
                segmenter,
                str(folder),
                str(out),
                batch_size=2,
                progress=False,
                overlap=overlap)
        assert not out.exists()
        notes[overlap] = [
            note.replace(str(out), 'OUT') for note in info.value.__notes__
        ]
    # Batches of 2: good0-good3 are written; good4 shares the failed batch.
    assert notes[False] == [
        'removed the 12 partial output file(s) this run had written under '
        'OUT'
    ]
    assert notes[True] == notes[False]


def test_skip_mode_with_no_readable_frame_is_an_error(segmenter, tmp_path,
                                                      add_bad_frames):
    images = tmp_path / 'bad'
    images.mkdir()
    add_bad_frames(images)
    out = tmp_path / 'out'
    with pytest.raises(
            PolypFileError,
            match=r'no frame could be read: bomb\.png \(image has .*\), '
            r'cut\.jpg \(.*\), deep16\.png \(16-bit image'):
        run_inference(
            segmenter,
            str(images),
            str(out),
            progress=False,
            skip_bad_frames=True)
    assert not out.exists()


def test_skip_mode_counts_skipped_frames_in_the_progress_bar(
        segmenter, folder, tmp_path, capsys, add_bad_frames):
    add_bad_frames(folder)
    run_inference(
        segmenter, str(folder), str(tmp_path / 'out'), skip_bad_frames=True)
    total = len(SIZES) + 3
    assert f'{total}/{total}' in capsys.readouterr().err


class FakeCapture:
    """Stands in for cv2.VideoCapture: plays ``reads``, a list of frames
    (None for a failed read), then fails every read."""

    reads: list = []

    def __init__(self, path):
        self.queue = list(self.reads)

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 10.0}.get(prop, 0.0)

    def read(self):
        item = self.queue.pop(0) if self.queue else None
        return item is not None, item

    def release(self):
        pass


@pytest.fixture
def damaged_video(tmp_path, monkeypatch):
    """``clip.mp4`` as OpenCV would decode a damaged video: frame 2 is
    smaller, frame 3 fails to decode, frames 0, 1, 4 and 5 are good."""
    good = [frame(48, 64, i) for i in range(6)]
    FakeCapture.reads = [
        good[0], good[1],
        frame(24, 32, 9), None, good[4], good[5]
    ]
    path = tmp_path / 'clip.mp4'
    path.write_bytes(b'')  # input_kind needs the file
    real = cv2.VideoCapture

    def capture(name):
        # The damaged clip is faked; the overlay video written is checked
        # by reopening it for real.
        return FakeCapture(name) if name == str(path) else real(name)

    monkeypatch.setattr(inputs.cv2, 'VideoCapture', capture)
    return path


@pytest.mark.parametrize('overlap', [True, False])
def test_skip_mode_video_leaves_out_damaged_frames(segmenter, damaged_video,
                                                   tmp_path, overlap):
    out = tmp_path / 'out'
    summary = run_inference(
        segmenter,
        str(damaged_video),
        str(out),
        save_frames=True,
        progress=False,
        skip_bad_frames=True,
        overlap=overlap)
    assert summary['frames'] == 4
    assert summary['skipped_frames'] == [
        dict(name='clip_000002', reason='frame is 32x24, the first 64x48'),
        dict(name='clip_000003', reason='could not be decoded')
    ]
    # Frames keep their index in the video.
    assert sorted(os.listdir(
        out / 'masks')) == [f'clip_{i:06d}.png' for i in (0, 1, 4, 5)]
    assert (out / 'clip_overlay.mp4').is_file()
    assert (out / 'skipped_frames.csv').is_file()


def test_default_mode_video_stops_at_a_frame_of_another_size(
        segmenter, damaged_video, tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(
            PolypFileError,
            match='frame clip_000002 is 32x24, the first 64x48'):
        run_inference(
            segmenter,
            str(damaged_video),
            str(out),
            save_frames=True,
            progress=False)
    assert not out.exists()


def test_default_mode_video_ends_at_a_failed_read(damaged_video):
    FakeCapture.reads = FakeCapture.reads[:2] + [None, frame(48, 64, 4)]
    with VideoSource(str(damaged_video)) as source:
        assert [name for name, _ in source.frames()
                ] == ['clip_000000', 'clip_000001']


# Overlapped == sequential ----------------------------------------------------


def test_overlapped_equals_sequential_for_a_folder(segmenter, folder, tmp_path,
                                                   no_thread_left):
    outputs = {}
    for overlap in (False, True):
        out = tmp_path / str(overlap)
        summary = run_inference(
            segmenter,
            str(folder),
            str(out),
            batch_size=2,
            progress=False,
            overlap=overlap)
        assert summary['frames'] == len(SIZES)
        outputs[overlap] = written_files(out)
    assert len(outputs[True]) == 3 * len(SIZES)
    assert outputs[True] == outputs[False]


def test_overlapped_probabilities_are_bit_identical_and_in_order(
        segmenter, folder, tmp_path):
    paths, _ = inputs.list_images(str(folder))
    results = {}
    for overlap in (False, True):
        runner = BatchRunner(
            segmenter,
            str(tmp_path),
            batch_size=2,
            progress=False,
            overlap=overlap)
        got = []
        count = runner.segment(
            inputs.image_frames(paths), lambda name, image, prob: got.append(
                (name, prob)))
        assert count == len(paths)
        results[overlap] = got
    names = [osp.splitext(osp.basename(p))[0] for p in paths]
    for overlap in (False, True):
        assert [name for name, _ in results[overlap]] == names
    for (_, a), (_, b) in zip(results[False], results[True]):
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a, b)


def write_video(path, frames, fps):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
        frames[0].shape[1::-1])
    assert writer.isOpened(), 'OpenCV cannot write mp4v here'
    for image in frames:
        writer.write(image)
    writer.release()


def decoded(path) -> list:
    with VideoSource(str(path)) as source:
        return [image for _, image in source.frames()]


def test_overlapped_equals_sequential_for_a_video(segmenter, tmp_path,
                                                  no_thread_left):
    video = tmp_path / 'clip.avi'  # mp4v in AVI: decodes everywhere
    write_video(video, [frame(48, 64, i) for i in range(7)], fps=5)
    outputs = {}
    for overlap in (False, True):
        out = tmp_path / str(overlap)
        summary = run_inference(
            segmenter,
            str(video),
            str(out),
            batch_size=3,
            save_frames=True,
            progress=False,
            overlap=overlap)
        assert summary['frames'] == 7
        outputs[overlap] = written_files(out / 'probs'), written_files(
            out / 'overlays'), decoded(out / 'clip_overlay.mp4')
    (probs, overlays, video_frames), expected = outputs[True], outputs[False]
    assert len(probs) == 7
    assert probs == expected[0] and overlays == expected[1]
    assert len(video_frames) == 7
    for a, b in zip(video_frames, expected[2]):
        assert np.array_equal(a, b)


# Errors in each stage --------------------------------------------------------


def test_writer_error_propagates_and_removes_outputs(segmenter, folder,
                                                     tmp_path, monkeypatch,
                                                     no_thread_left):
    write = batch_inference.PredictionWriter.write
    threads = []

    def failing_write(self, stem, image, prob):
        threads.append(threading.current_thread().name)
        if len(threads) == 3:
            raise OSError('disk full')
        return write(self, stem, image, prob)

    monkeypatch.setattr(batch_inference.PredictionWriter, 'write',
                        failing_write)
    out = tmp_path / 'out'
    with pytest.raises(OSError, match='disk full') as info:
        run_inference(
            segmenter, str(folder), str(out), progress=False, overlap=True)
    assert set(threads) == {'ssformer-writer'}
    assert any('removed the 6 partial output' in note
               for note in info.value.__notes__)
    assert not out.exists()


@pytest.mark.parametrize('overlap', [True, False])
def test_a_failed_run_undoes_only_its_own_writes(segmenter, folder, tmp_path,
                                                 monkeypatch, overlap,
                                                 no_thread_left):
    # The output folder is shared: an earlier run's outputs, a training
    # run's log that grows and a checkpoint that appears while this run
    # writes, and links (one dangling).
    out = tmp_path / 'out'
    run_inference(segmenter, str(folder), str(out), progress=False)
    earlier = written_files(out)
    (out / 'train.log').write_text('iter 1\n')
    (out / 'dangling.png').symlink_to(tmp_path / 'nowhere.png')
    (out / 'masks' / 'link.png').symlink_to(out / 'masks' / 'good0.png')
    write = batch_inference.PredictionWriter.write
    calls = []

    def write_then_fail(self, stem, image, prob):
        calls.append(stem)
        if len(calls) == 2:  # meanwhile, another process writes
            with open(out / 'train.log', 'a') as log:
                log.write('iter 2\n')
            (out / 'iter_2.pth').write_bytes(b'checkpoint')
        if len(calls) == 3:
            raise OSError('disk full')
        # Other values than the earlier run's, so a restore can be told.
        return write(self, stem, image, 1 - prob)

    monkeypatch.setattr(batch_inference.PredictionWriter, 'write',
                        write_then_fail)
    with pytest.raises(OSError, match='disk full') as info:
        run_inference(
            segmenter, str(folder), str(out), progress=False, overlap=overlap)
    assert any('removed the 6 partial output' in note
               for note in info.value.__notes__)
    after = written_files(out)
    # The earlier outputs the run overwrote are back, byte for byte.
    assert {k: after[k] for k in earlier} == earlier
    assert after['train.log'] == b'iter 1\niter 2\n'
    assert after['iter_2.pth'] == b'checkpoint'
    assert os.path.islink(out / 'dangling.png')
    assert os.path.islink(out / 'masks' / 'link.png')
    assert not [n for n in os.listdir(out) if n.startswith('.ssformer')]


def test_infer_tool_writes_beside_links_and_other_files(
        make_tiny_config_file, folder, tmp_path, run_tool):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'dangling.png').symlink_to(tmp_path / 'nowhere.png')
    result = run_tool('tools/infer.py', make_tiny_config_file(), '-', folder,
                      '--out-dir', out, '--no-progress')
    assert result.code == 0, result.output
    assert len(os.listdir(out / 'masks')) == len(SIZES)
    assert os.path.islink(out / 'dangling.png')


@pytest.mark.parametrize('skip', [False, True])
def test_reader_error_propagates_even_in_skip_mode(segmenter, folder, tmp_path,
                                                   monkeypatch, skip,
                                                   no_thread_left):
    """Skip mode leaves out unreadable frames, nothing else: an I/O error
    of the reader still stops the run."""
    read = inputs.read_image
    threads = []

    def failing_read(path):
        threads.append(threading.current_thread().name)
        if len(threads) == 4:
            raise MemoryError('no memory for a frame')
        return read(path)

    monkeypatch.setattr(inputs, 'read_image', failing_read)
    out = tmp_path / 'out'
    with pytest.raises(MemoryError, match='no memory'):
        run_inference(
            segmenter,
            str(folder),
            str(out),
            progress=False,
            skip_bad_frames=skip,
            overlap=True)
    assert set(threads) == {'ssformer-reader'}
    assert not out.exists()


@pytest.mark.parametrize('error', [RuntimeError, KeyboardInterrupt])
def test_inference_error_or_interrupt_stops_every_stage(
        segmenter, folder, tmp_path, monkeypatch, error, no_thread_left):
    calls = []

    def failing_infer(self, data):
        calls.append(threading.current_thread())
        if len(calls) == 2:
            raise error('stop')
        return BatchRunner.infer(self, data)

    runner = BatchRunner(
        segmenter, str(tmp_path / 'out'), progress=False, overlap=True)
    monkeypatch.setattr(runner, 'infer', failing_infer.__get__(runner))
    with pytest.raises(error, match='stop'):
        runner.run(str(folder))
    assert calls == [threading.main_thread()] * 2
    assert not (tmp_path / 'out').exists()


# The command line ------------------------------------------------------------


def test_infer_tool_skip_bad_frames(make_tiny_config_file, folder, tmp_path,
                                    run_tool, add_bad_frames):
    add_bad_frames(folder)
    out = tmp_path / 'out'
    result = run_tool('tools/infer.py', make_tiny_config_file(), '-', folder,
                      '--out-dir', out, '--no-progress', '--skip-bad-frames')
    assert result.code == 0, result.stderr
    report = out / 'skipped_frames.csv'
    assert ('skipped 3 unreadable frame(s) (bomb.png, cut.jpg, deep16.png); '
            'reasons '
            f'in {report}') in result.stdout
    assert f'segmented {len(SIZES)} frame(s)' in result.stdout
    assert len(os.listdir(out / 'masks')) == len(SIZES)


# The CVC-ClinicDB clip -------------------------------------------------------


@pytest.fixture(scope='module')
def clinicdb_root(real_data_root):
    if not osp.isdir(osp.join(real_data_root, 'cvc-clinicdb', 'images')):
        pytest.skip(f'no cvc-clinicdb/ under {real_data_root}')
    return real_data_root


def test_clinicdb_sequences_cover_every_frame_once(clinicdb_root):
    sequences = video_clip.clinicdb_sequences(clinicdb_root)
    assert sorted(sequences) == list(range(1, 30))
    starts = [sequences[s][0] for s in sorted(sequences)]
    ends = [sequences[s][1] for s in sorted(sequences)]
    assert starts[0] == 1 and ends[-1] == 612
    assert starts[1:] == [end + 1 for end in ends[:-1]]


def test_clip_of_the_longest_sequence(clinicdb_root, tmp_path):
    sequence, paths = video_clip.sequence_frames(clinicdb_root)
    assert sequence == 8  # frames 152 to 177: the only one of 26
    assert [osp.basename(p)
            for p in paths] == [f'{n}.png' for n in range(152, 178)]
    clip = video_clip.write_clip(paths, str(tmp_path / 'seq8.mp4'), fps=25)
    with VideoSource(clip) as source:
        assert source.fps == pytest.approx(25)
        assert (source.width, source.height) == (384, 288)
        clip_frames = [image for _, image in source.frames()]
    assert len(clip_frames) == 26
    # Lossy (about 3 grey levels off), but the same pictures in the same
    # order: each decoded frame is nearest its own image (the next nearest
    # is about 10 levels off or more).
    images = [cv2.imread(path).astype(np.int16) for path in paths]
    for index, image in enumerate(clip_frames):
        errors = [np.abs(image - other).mean() for other in images]
        assert np.argmin(errors) == index and errors[index] < 6


def test_chosen_sequence_and_bad_choices(clinicdb_root):
    sequence, paths = video_clip.sequence_frames(clinicdb_root, 10)
    assert sequence == 10 and len(paths) == 6
    with pytest.raises(
            PolypFileError, match='no sequence 30; it lists 1 '
            'to 29'):
        video_clip.sequence_frames(clinicdb_root, 30)


def test_measure_video_throughput_reports_every_figure(segmenter, tmp_path):
    video = tmp_path / 'clip.avi'
    write_video(video, [frame(48, 64, i) for i in range(4)], fps=5)
    result = video_clip.measure_video_throughput(
        segmenter, str(video), str(tmp_path / 'work'), warmup=1, repeats=1)
    assert result.frames == 4
    assert min(result.model_fps, result.sequential_fps,
               result.overlapped_fps) > 0
    assert result.runtime == 'pytorch fp32 on cpu'
    report = result.report()
    for words in ('model alone', 'sequential', 'overlapped / sequential',
                  result.cpu):
        assert words in report
    for mode in ('sequential_0', 'overlapped_0'):
        assert (tmp_path / 'work' / mode / 'clip_overlay.mp4').is_file()


@pytest.mark.parametrize('device,cores,threads,expected',
                         [('cpu', 2, 2, False), ('cpu', 8, 2, True),
                          ('cpu', 1, 1, False), ('cuda', 2, 2, True),
                          ('cuda:1', 1, 1, True)])
def test_overlap_by_default_only_where_cores_are_free(monkeypatch, device,
                                                      cores, threads,
                                                      expected):
    monkeypatch.setattr(batch_inference.os, 'cpu_count', lambda: cores)
    monkeypatch.setattr(batch_inference.torch, 'get_num_threads',
                        lambda: threads)
    assert batch_inference.overlap_pays(device) is expected


def test_runner_default_overlap_follows_overlap_pays(monkeypatch, segmenter,
                                                     tmp_path):
    for pays in (True, False):
        monkeypatch.setattr(
            batch_inference, 'overlap_pays', lambda device, pays=pays: pays)
        runner = batch_inference.BatchRunner(segmenter, str(tmp_path))
        assert runner.overlap is pays
    explicit = batch_inference.BatchRunner(
        segmenter, str(tmp_path), overlap=True)
    assert explicit.overlap is True


# Verified writes -------------------------------------------------------------

# tools/infer.py on a video with the file size capped (as a full disk does):
# writes past the cap fail with EFBIG (SIGXFSZ ignored), OpenCV's writer
# reports nothing, and the MP4 ends up without its index.
_FULL_DISK = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
sys.argv = ['tools/infer.py', *sys.argv[1:]]
runpy.run_path('tools/infer.py', run_name='__main__')
"""


def test_a_video_cut_short_by_a_full_disk_is_an_error(make_tiny_config_file,
                                                      tmp_path, run_tool):
    video = tmp_path / 'clip.mp4'
    write_video(video, [frame(96, 128, seed) for seed in range(40)], 10)
    assert os.path.getsize(video) > 40000
    out = tmp_path / 'out'
    result = run_tool('-c', _FULL_DISK.format(limit=20000),
                      make_tiny_config_file(), '-', video, '--out-dir', out,
                      '--no-progress')
    overlay = out / 'clip_overlay.mp4'
    assert result.code != 0
    assert f'{overlay}: the video written' in result.stderr
    assert 'wrote' not in result.stdout
    assert not overlay.exists()


def test_verified_video_reports_what_it_holds(tmp_path, monkeypatch):
    path = str(tmp_path / 'v.mp4')
    with VideoOverlayWriter(path, 10, (64, 48)) as writer:
        for seed in range(3):
            writer.write(frame(48, 64, seed))
    assert len(decoded(path)) == 3
    # A frame the writer dropped (written at the wrong size) is caught.
    with pytest.raises(
            OSError, match=r'holds 2 frame\(s\) of 64x48, expected 3'):
        with VideoOverlayWriter(path, 10, (64, 48)) as writer:
            for seed in range(3):
                writer.write(frame(48 if seed else 40, 64, seed))
