"""The *Segment* tab: upload frames or a video, move the threshold, download
the masks and the overlay video.

:class:`SegmentTab` holds what every request shares (the segmenter, the
session folders, the budget); its handlers take the session's result and
the widgets' values as arguments, and :meth:`SegmentTab.build` makes the
widgets and wires them. The work is :mod:`.segment`'s.
"""
import os.path as osp
import shutil
from typing import Optional

import numpy as np

from ..apis.segmenter import PolypSegmenter
from . import segment, serving
from .page import OVERLAY_ID, gradio, page_errors, progress_callback

gr = gradio()  # the tab's handlers ask for gr.Progress in their signature


def summary_text(result: segment.Segmentation) -> str:
    """The line above the pictures: frame count, backend, mean time."""
    times = [item.seconds for item in result.frames]
    kind = 'video frame' if result.fps is not None else 'image'
    plural = '' if len(times) == 1 else 's'
    return (f'**{len(times)} {kind}{plural}** on **{result.backend}**: '
            f'{np.mean(times) * 1e3:.1f} ms per frame on average '
            f'({1 / np.mean(times):.2f} frames/s)')


def discard(result: Optional[segment.Segmentation]) -> None:
    """Remove a session's result from disk (Gradio's state deletion)."""
    if result is not None:
        result.discard()


class SegmentTab:
    """The *Segment* tab's state shared by every session, and its handlers.

    Args:
        segmenter (PolypSegmenter): What segments the uploads (called one
            request at a time, in arrival order).
        sessions (serving.SessionFolders): Where each request's frames,
            maps and downloads go.
        budget (segment.Budget): What one request may ask.
        idle_seconds (float): How long a session's result is kept unused.
    """

    def __init__(self, segmenter: PolypSegmenter,
                 sessions: serving.SessionFolders, budget: segment.Budget,
                 idle_seconds: float):
        self.segmenter = segmenter
        self.shared = serving.SharedSegmenter(segmenter)
        self.sessions = sessions
        self.budget = budget
        self.idle_seconds = idle_seconds

    def segment_upload(self,
                       images,
                       video,
                       threshold: float,
                       previous_result,
                       progress=gr.Progress()):
        """Segment the uploaded images or video into a new session folder;
        the session's previous result is removed."""
        if not images and not video:
            raise gr.Error('Upload one or more images, or a video.')
        if images and video:
            raise gr.Error('Upload images or a video, not both at once.')
        folder = self.sessions.new()
        try:
            report = progress_callback(progress, 'segmenting')
            if video:
                result = segment.segment_video(
                    self.shared, video, folder, self.budget, progress=report)
            else:
                result = segment.segment_images(
                    self.shared, images, folder, self.budget, progress=report)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        discard(previous_result)  # a session keeps one result: the newest
        return (result, summary_text(result),
                gr.Slider(
                    minimum=0,
                    maximum=max(len(result.frames) - 1, 1),
                    value=0,
                    visible=len(result.frames) > 1),
                *self.frame_view(result, threshold, 0),
                *self.downloads(result, threshold, progress))

    def frame_view(self, result, threshold: float, frame_index) -> tuple:
        """Overlay, probability and mask pictures of one frame, and its
        caption."""
        if result is None or not osp.isdir(result.folder):
            raise gr.Error('Segment something first (results are removed '
                           'after a while unused).')
        serving.touch(result.folder)
        index = int(min(max(frame_index or 0, 0), len(result.frames) - 1))
        item = result.frames[index]
        pictures = segment.pictures(item, threshold)
        caption = (f'{item.name}: {item.seconds * 1e3:.1f} ms, '
                   f'{result.backend}')
        return (*serving.picture_files(result.folder, pictures), caption)

    def downloads(self, result, threshold: float, progress=None) -> tuple:
        """The timing table and the download files at ``threshold``."""
        files = segment.downloads(
            result, threshold,
            serving.numbered_folder(osp.join(result.folder, 'downloads')),
            None if progress is None else progress_callback(
                progress, 'writing the overlay video'))
        return segment.timing_rows(result, threshold), files

    def rethreshold(self,
                    result,
                    threshold: float,
                    frame_index,
                    progress=gr.Progress()) -> tuple:
        """The frame's pictures and the downloads at a new threshold,
        without running the network."""
        return (*self.frame_view(result, threshold, frame_index),
                *self.downloads(result, threshold, progress))

    def build(self) -> None:
        """Make the tab's widgets (inside ``gr.Blocks``) and wire them."""
        # The result's files are removed when the session ends or after the
        # idle time (and by SessionFolders.sweep).
        result = gr.State(
            None, time_to_live=self.idle_seconds, delete_callback=discard)
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
                value=self.segmenter.threshold,
                step=0.01,
                label='Threshold (re-draws without re-running)')
            segment_button = gr.Button('Segment', variant='primary')
        summary = gr.Markdown()
        frame_index = gr.Slider(
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
                label='Mask', format='png', image_mode='L', interactive=False)
        timing = gr.Dataframe(
            headers=['frame', 'size', 'ms', 'polyp %'],
            label='Frames',
            interactive=False)
        files = gr.File(label='Downloads', file_count='multiple')
        view = [overlay, heat, mask, caption]
        segment_button.click(
            page_errors(self.segment_upload),
            [images, video, threshold, result],
            [result, summary, frame_index, *view, timing, files],
            api_name='segment')
        frame_index.change(
            page_errors(self.frame_view), [result, threshold, frame_index],
            view,
            api_name='show_frame')
        threshold.release(
            page_errors(self.rethreshold), [result, threshold, frame_index],
            [*view, timing, files],
            api_name='rethreshold')
