"""The web app: a Gradio page with a *Segment* tab (upload frames or a
video, move the threshold, download masks and the overlay video) and a
*Review a run* tab (a test run's images sorted by Dice, each with its
frame, ground truth, prediction and error map, and the Dice-vs-threshold
curves).

The page only wires :mod:`.segment`, :mod:`.review` and :mod:`.serving`
to widgets. Bad input raises ``gr.Error``, which Gradio shows in the page
while the server stays up; any other error shows a generic message in the
page and its details in the server log. The server around the page is
:mod:`.server`.
"""
import functools
import logging
import os.path as osp
import shutil
from typing import Optional

import numpy as np

from ..apis.optional import require
from ..apis.segmenter import PolypSegmenter
from . import review, segment, serving

#: Requests the page runs at once (each waits its turn at the model).
DEFAULT_CONCURRENCY = 4
#: A session's folder (its frames, maps and downloads) and Gradio's cached
#: files are removed after this long unused.
DEFAULT_IDLE_SECONDS = 30 * 60
#: What the page shows for an error that is not the user's.
INTERNAL_ERROR = 'Internal error; the details are in the server log.'
logger = logging.getLogger(__name__)
#: Widget ids the tests and the browser check look for.
OVERLAY_ID = 'segment-overlay'


def _gradio():
    return require('gradio', 'the web app')


def _progress_callback(progress, description: str):
    """Our (done, total) callback feeding a ``gr.Progress``."""

    def report(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=description)

    return report


def _page_errors(handler):
    """Errors a user can act on as ``gr.Error`` with their message; any
    other error logged with its traceback and shown as
    :data:`INTERNAL_ERROR` (no server paths or library internals in the
    page)."""
    gr = _gradio()

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except (segment.UploadError, review.NotATestRun) as error:
            raise gr.Error(str(error)) from None
        except Exception:
            logger.exception('web app: %s failed', handler.__name__)
            raise gr.Error(INTERNAL_ERROR) from None

    return wrapped


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
              budget: segment.Budget = segment.Budget(),
              idle_seconds: float = DEFAULT_IDLE_SECONDS):
    """The ``gr.Blocks`` page.

    Args:
        segmenter (PolypSegmenter): What segments the uploads (any backend;
            called one request at a time, in arrival order).
        work_dir (str): Where the session folders (frames, maps, downloads)
            are written.
        review_dir (str, optional): The folder the review tab may open
            runs under (a test run folder, or a folder of them), opened at
            start; without it the review tab opens nothing.
        budget (segment.Budget): What one request may ask.
        idle_seconds (float): A session's folder is removed after this long
            unused, or when its page is closed.
    """
    gr = _gradio()
    shared = serving.SharedSegmenter(segmenter)
    sessions = serving.SessionFolders(
        osp.join(work_dir, 'sessions'), idle_seconds)
    # The review's pictures, kept a few minutes (Gradio copies them).
    review_views = serving.SessionFolders(
        osp.join(work_dir, 'review_views'), min(idle_seconds, 300))

    def discard(result) -> None:
        if result is not None:
            result.discard()

    @_page_errors
    def run_segmentation(images,
                         video,
                         threshold,
                         previous,
                         progress=gr.Progress()):
        if not images and not video:
            raise gr.Error('Upload one or more images, or a video.')
        if images and video:
            raise gr.Error('Upload images or a video, not both at once.')
        folder = sessions.new()
        try:
            report = _progress_callback(progress, 'segmenting')
            if video:
                result = segment.segment_video(
                    shared, video, folder, budget, progress=report)
            else:
                result = segment.segment_images(
                    shared, images, folder, budget, progress=report)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        discard(previous)  # a session keeps one result: the newest
        return (result, _summary(result),
                gr.Slider(
                    minimum=0,
                    maximum=max(len(result.frames) - 1, 1),
                    value=0,
                    visible=len(result.frames) > 1),
                *_view(result, threshold, 0),
                *_outputs(result, threshold, progress))

    @_page_errors
    def show_frame(result, threshold, index):
        return _view(result, threshold, index)

    def _view(result, threshold, index):
        if result is None or not osp.isdir(result.folder):
            raise gr.Error('Segment something first (results are removed '
                           'after a while unused).')
        serving.touch(result.folder)
        index = int(min(max(index or 0, 0), len(result.frames) - 1))
        item = result.frames[index]
        pictures = segment.pictures(item, threshold)
        caption = (f'{item.name}: {item.seconds * 1e3:.1f} ms, '
                   f'{result.backend}')
        return (*serving.picture_files(result.folder, pictures), caption)

    def _outputs(result, threshold, progress=None):
        files = segment.downloads(
            result, threshold,
            serving.numbered_folder(osp.join(result.folder, 'downloads')),
            None if progress is None else _progress_callback(
                progress, 'writing the overlay video'))
        return segment.timing_rows(result, threshold), files

    @_page_errors
    def rethreshold(result, threshold, index, progress=gr.Progress()):
        return (*_view(result, threshold, index),
                *_outputs(result, threshold, progress))

    @_page_errors
    def open_run(folder):
        if not review_dir:
            raise gr.Error('No run can be opened: start the app with '
                           '--review FOLDER.')
        run = review.open_under(review_dir, folder)
        sets = ['all', *run.test_sets]
        table = run.table()
        return (run, gr.Dropdown(choices=sets, value='all'), table,
                gr.Dropdown(
                    choices=_image_keys(table),
                    value=_image_keys(table)[0]), _curve_frame(run))

    @_page_errors
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

    @_page_errors
    def show_image(run, key, threshold):
        if not key:
            return None, None, None, None, ''
        _check_open(run)
        test_set, _, image = key.partition('/')
        try:
            panels = run.panels(test_set, image, threshold)
            row = run.row(test_set, image)
        except (KeyError, review.OutsideTheRun) as error:
            raise gr.Error(str(error).strip('"')) from None
        scores = ', '.join(f'{c} {row[c]:.4f}'
                           for c in review.TABLE_COLUMNS[2:])
        files = serving.picture_files(review_views.new(), [
            panels[k]
            for k in ('frame', 'ground_truth', 'prediction', 'errors')
        ])
        return (*files, f'**{key}**: {scores}')

    def _check_open(run):
        # The opened TestRun is kept per session: its CSV is read once.
        if run is None:
            raise gr.Error('Open a test run folder first.')

    # No telemetry or version check: the page serves medical frames
    # locally, and Gradio's reporting threads (not daemons) can hold up the
    # exit on Ctrl-C where the network is slow or absent.
    # Gradio's own copies of uploads and outputs are dropped after the
    # idle time too (checked every ten minutes at most).
    with gr.Blocks(
            title='SSFormer polyp segmentation',
            analytics_enabled=False,
            delete_cache=(min(600,
                              int(idle_seconds)), int(idle_seconds))) as app:
        gr.Markdown('# SSFormer polyp segmentation\n'
                    f'Model: **{segmenter.backend} {segmenter.precision}** '
                    f'on {segmenter.device}.')
        with gr.Tab('Segment'):
            # The result's files are removed when the session ends or
            # after the idle time (and by SessionFolders.sweep).
            result = gr.State(
                None, time_to_live=idle_seconds, delete_callback=discard)
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
                run_segmentation, [images, video, threshold, result],
                [result, summary, frame, *view, timing, files],
                api_name='segment')
            frame.change(
                show_frame, [result, threshold, frame],
                view,
                api_name='show_frame')
            threshold.release(
                rethreshold, [result, threshold, frame],
                [*view, timing, files],
                api_name='rethreshold')
        with gr.Tab('Review a run'):
            root = gr.State(None)
            with gr.Row():
                folder = gr.Textbox(
                    value='.' if review_dir else '',
                    label='Test run folder (tools/test.py --out), under the '
                    'review folder')
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
