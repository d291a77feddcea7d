"""The web app: a Gradio page with a *Segment* tab (upload frames or a
video, move the threshold, download masks and the overlay video) and a
*Review a run* tab (a test run's images sorted by Dice, each with its
frame, ground truth, prediction and error map, and the Dice-vs-threshold
curves).

The page only wires :mod:`.segment` and :mod:`.review` to widgets. Bad
input raises ``gr.Error``, which Gradio shows in the page while the server
stays up. Uploads and downloads live in one temporary folder that
:class:`WebApp` removes when it closes.
"""
import os
import os.path as osp
import shutil
import signal
import tempfile
import threading
from typing import Optional

import numpy as np

from ..apis.optional import require
from ..apis.segmenter import PolypSegmenter
from . import review, segment

#: Largest upload Gradio accepts (it refuses bigger ones itself).
DEFAULT_MAX_FILE_SIZE = '500mb'
#: Widget ids the tests and the browser check look for.
OVERLAY_ID = 'segment-overlay'


def _gradio():
    return require('gradio', 'the web app')


def _progress_callback(progress, description: str):
    """Our (done, total) callback feeding a ``gr.Progress``."""

    def report(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=description)

    return report


def _summary(result: segment.Segmentation) -> str:
    times = [item.seconds for item in result.frames]
    kind = 'video frame' if result.fps is not None else 'image'
    plural = '' if len(times) == 1 else 's'
    return (f'**{len(times)} {kind}{plural}** on **{result.backend}**: '
            f'{np.mean(times) * 1e3:.1f} ms per frame on average '
            f'({1 / np.mean(times):.2f} frames/s)')


def build_app(segmenter: PolypSegmenter,
              work_dir: str,
              review_dir: Optional[str] = None,
              max_video_frames: int = segment.DEFAULT_MAX_VIDEO_FRAMES):
    """The ``gr.Blocks`` page.

    Args:
        segmenter (PolypSegmenter): What segments the uploads (any backend).
        work_dir (str): Where downloads are written.
        review_dir (str, optional): A test run folder to open in the review
            tab at start.
        max_video_frames (int): Most frames of a video.
    """
    gr = _gradio()

    def run_segmentation(images, video, threshold, progress=gr.Progress()):
        if not images and not video:
            raise gr.Error('Upload one or more images, or a video.')
        if images and video:
            raise gr.Error('Upload images or a video, not both at once.')
        try:
            if video:
                result = segment.segment_video(
                    segmenter,
                    video,
                    max_video_frames,
                    progress=_progress_callback(progress, 'segmenting'))
            else:
                result = segment.segment_images(
                    segmenter,
                    images,
                    progress=_progress_callback(progress, 'segmenting'))
        except segment.UploadError as error:
            raise gr.Error(str(error)) from None
        return (result, _summary(result),
                gr.Slider(
                    minimum=0,
                    maximum=max(len(result.frames) - 1, 1),
                    value=0,
                    visible=len(result.frames) > 1),
                *_view(result, threshold, 0),
                *_outputs(result, threshold, progress))

    def _view(result, threshold, index):
        if result is None:
            raise gr.Error('Segment something first.')
        index = int(min(max(index or 0, 0), len(result.frames) - 1))
        item = result.frames[index]
        overlay, heat, mask = segment.pictures(item, threshold)
        caption = (f'{item.name}: {item.seconds * 1e3:.1f} ms, '
                   f'{result.backend}')
        return overlay, heat, mask, caption

    def _outputs(result, threshold, progress=None):
        out_dir = tempfile.mkdtemp(prefix='downloads-', dir=work_dir)
        files = segment.downloads(
            result, threshold, out_dir,
            None if progress is None else _progress_callback(
                progress, 'writing the overlay video'))
        return segment.timing_rows(result, threshold), files

    def rethreshold(result, threshold, index, progress=gr.Progress()):
        return (*_view(result, threshold, index),
                *_outputs(result, threshold, progress))

    def open_run(folder):
        try:
            run = review.TestRun(folder)
        except review.NotATestRun as error:
            raise gr.Error(str(error)) from None
        sets = ['all', *run.test_sets]
        table = run.table()
        return (run, gr.Dropdown(choices=sets, value='all'), table,
                gr.Dropdown(
                    choices=_image_keys(table),
                    value=_image_keys(table)[0]), _curve_frame(run))

    def filter_run(run, test_set):
        _check_open(run)
        table = run.table(None if test_set == 'all' else test_set)
        keys = _image_keys(table)
        return table, gr.Dropdown(
            choices=keys, value=keys[0] if keys else None)

    def pick_row(table, event: gr.SelectData):
        row = table.values[event.index[0]] if hasattr(table, 'values') \
            else table[event.index[0]]
        return f'{row[0]}/{row[1]}'

    def show_image(run, key, threshold):
        if not key:
            return None, None, None, None, ''
        _check_open(run)
        test_set, _, image = key.partition('/')
        try:
            panels = run.panels(test_set, image, threshold)
            row = run.row(test_set, image)
        except (KeyError, review.NotATestRun, review.OutsideTheRun) as error:
            raise gr.Error(str(error).strip('"')) from None
        scores = ', '.join(f'{c} {row[c]:.4f}'
                           for c in review.TABLE_COLUMNS[2:])
        return (panels['frame'], panels['ground_truth'], panels['prediction'],
                panels['errors'], f'**{key}**: {scores}')

    def _check_open(run):
        # The opened TestRun is kept per session: its CSV is read once.
        if run is None:
            raise gr.Error('Open a test run folder first.')

    # No telemetry or version check: the page serves medical frames
    # locally, and Gradio's reporting threads (not daemons) can hold up the
    # exit on Ctrl-C where the network is slow or absent.
    with gr.Blocks(
            title='SSFormer polyp segmentation',
            analytics_enabled=False) as app:
        gr.Markdown('# SSFormer polyp segmentation\n'
                    f'Model: **{segmenter.backend} {segmenter.precision}** '
                    f'on {segmenter.device}.')
        with gr.Tab('Segment'):
            result = gr.State(None)
            with gr.Row():
                images = gr.File(
                    label='Images',
                    file_count='multiple',
                    type='filepath',
                    elem_id='segment-images')
                video = gr.File(
                    label='or one video',
                    file_count='single',
                    type='filepath',
                    elem_id='segment-video')
            with gr.Row():
                threshold = gr.Slider(
                    0.01,
                    0.99,
                    value=segmenter.threshold,
                    step=0.01,
                    label='Threshold (re-draws without re-running)')
                run = gr.Button('Segment', variant='primary')
            summary = gr.Markdown()
            frame = gr.Slider(
                0, 1, value=0, step=1, label='Frame', visible=False)
            caption = gr.Markdown()
            with gr.Row():
                overlay = gr.Image(
                    label='Overlay',
                    format='png',
                    interactive=False,
                    elem_id=OVERLAY_ID)
                heat = gr.Image(
                    label='Probability', format='png', interactive=False)
                mask = gr.Image(
                    label='Mask',
                    format='png',
                    image_mode='L',
                    interactive=False)
            timing = gr.Dataframe(
                headers=['frame', 'size', 'ms', 'polyp %'],
                label='Frames',
                interactive=False)
            files = gr.File(label='Downloads', file_count='multiple')
            view = [overlay, heat, mask, caption]
            run.click(
                run_segmentation, [images, video, threshold],
                [result, summary, frame, *view, timing, files],
                api_name='segment')
            frame.change(
                _view, [result, threshold, frame], view, api_name='show_frame')
            threshold.release(
                rethreshold, [result, threshold, frame],
                [*view, timing, files],
                api_name='rethreshold')
        with gr.Tab('Review a run'):
            root = gr.State(None)
            with gr.Row():
                folder = gr.Textbox(
                    value=review_dir or '',
                    label='Test run folder (tools/test.py --out)')
                open_button = gr.Button('Open', variant='primary')
            with gr.Row():
                test_set = gr.Dropdown(['all'], value='all', label='Test set')
                image_key = gr.Dropdown([], label='Image (worst first)')
                review_threshold = gr.Slider(
                    0.01, 0.99, value=0.5, step=0.01, label='Threshold')
            table = gr.Dataframe(
                headers=list(review.TABLE_COLUMNS),
                label='Images, worst mDice first',
                interactive=False)
            scores = gr.Markdown()
            with gr.Row():
                panels = [
                    gr.Image(label=label, format='png', interactive=False)
                    for label in ('Frame', 'Ground truth', 'Prediction',
                                  'Errors (red: false positive, blue: '
                                  'false negative)')
                ]
            curve = gr.LinePlot(
                x='threshold',
                y='mean Dice',
                color='test set',
                label='Dice against threshold, per test set')
            open_button.click(
                open_run, [folder], [root, test_set, table, image_key, curve],
                api_name='open_run')
            test_set.change(
                filter_run, [root, test_set], [table, image_key],
                api_name='filter_run')
            table.select(
                pick_row, [table], [image_key], api_visibility='private')
            for trigger, name in ((image_key.change, 'show_image'),
                                  (review_threshold.release,
                                   'review_rethreshold')):
                trigger(
                    show_image, [root, image_key, review_threshold],
                    [*panels, scores],
                    api_name=name)
            if review_dir:
                app.load(open_run, [folder],
                         [root, test_set, table, image_key, curve])
    return app


def _image_keys(table) -> list:
    return [f'{row[0]}/{row[1]}' for row in table]


def _curve_frame(run: review.TestRun):
    """The run's curves in the long form ``gr.LinePlot`` plots."""
    import pandas as pd
    curves = run.dice_curves()
    thresholds = curves.pop('threshold', None)
    if thresholds is None:
        return None
    return pd.DataFrame([
        dict(threshold=t, **{
            'mean Dice': d,
            'test set': name
        }) for name, values in curves.items()
        for t, d in zip(thresholds, values)
    ])


def _stop_on_ctrl_c() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt in this process.

    A process started by a parent that ignores SIGINT inherits that, and
    Python then never raises KeyboardInterrupt: the server would outlive
    every Ctrl-C. Only the main thread may set handlers.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


class WebApp:
    """The app with its temporary folder: uploads and downloads go there,
    and :meth:`close` (or leaving the ``with`` block) stops the server and
    removes it.

    Args:
        segmenter (PolypSegmenter): What segments the uploads.
        host (str): Address to serve on; loopback by default, so the app is
            not reachable from other machines unless asked.
        port (int, optional): Port; None lets Gradio pick a free one from
            7860 up.
        review_dir (str, optional): A test run folder opened at start.
        max_video_frames (int): Most frames of a video.
        max_file_size (str): Largest upload.
    """

    def __init__(self,
                 segmenter: PolypSegmenter,
                 host: str = '127.0.0.1',
                 port: Optional[int] = None,
                 review_dir: Optional[str] = None,
                 max_video_frames: int = segment.DEFAULT_MAX_VIDEO_FRAMES,
                 max_file_size: str = DEFAULT_MAX_FILE_SIZE):
        self.temp_dir = tempfile.mkdtemp(prefix='ssformer-webapp-')
        # Gradio stores uploads under GRADIO_TEMP_DIR.
        self._previous_temp = os.environ.get('GRADIO_TEMP_DIR')
        os.environ['GRADIO_TEMP_DIR'] = osp.join(self.temp_dir, 'uploads')
        self.host, self.port = host, port
        self.max_file_size = max_file_size
        self.app = build_app(segmenter, self.temp_dir, review_dir,
                             max_video_frames)
        self.url: Optional[str] = None

    def start(self, block: bool = False) -> str:
        """Serve; returns the local URL (``block``: serve until Ctrl-C,
        then close)."""
        self.app.queue()
        try:
            self.app.launch(
                server_name=self.host,
                server_port=self.port,
                prevent_thread_lock=True,
                show_error=True,
                max_file_size=self.max_file_size,
                quiet=True)
        except BaseException:
            self.close()
            raise
        self.url = self.app.local_url
        if block:
            _stop_on_ctrl_c()
            print(
                f'serving on {self.url} (uploads in {self.temp_dir}, removed '
                'on exit; Ctrl-C stops)',
                flush=True)
            try:
                self.app.block_thread()
            finally:
                self.close()
        return self.url

    def close(self) -> None:
        """Stop the server and remove the temporary folder."""
        try:
            self.app.close()
        finally:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            if self._previous_temp is None:
                os.environ.pop('GRADIO_TEMP_DIR', None)
            else:
                os.environ['GRADIO_TEMP_DIR'] = self._previous_temp

    def __enter__(self) -> 'WebApp':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
