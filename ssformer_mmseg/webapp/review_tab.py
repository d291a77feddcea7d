"""The *Review a run* tab: a test run's images sorted by Dice, each with its
frame, ground truth, prediction and error map, and the Dice-vs-threshold
curves.

:class:`ReviewTab` holds the folder runs may be opened under; its handlers
take the session's opened :class:`~.review.TestRun` and the widgets'
values as arguments, and :meth:`ReviewTab.build` makes the widgets and
wires them. The work is :mod:`.review`'s.
"""
from typing import Optional

from . import review, serving
from .page import gradio, page_errors

gr = gradio()


def image_keys(table) -> list:
    """``'test set/image'`` of each row of a run's table."""
    return [f'{row[0]}/{row[1]}' for row in table]


def curve_frame(test_run: review.TestRun):
    """The run's curves in the long form ``gr.LinePlot`` plots (None
    without a Dice-vs-threshold table)."""
    import pandas as pd
    curves = test_run.dice_curves()
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


def _check_open(test_run: Optional[review.TestRun]) -> None:
    if test_run is None:
        raise gr.Error('Open a test run folder first.')


class ReviewTab:
    """The *Review a run* tab's shared state and its handlers.

    Args:
        review_dir (str, optional): The folder runs may be opened under (a
            test run folder, or a folder of them); without it the tab opens
            nothing.
        picture_folders (serving.SessionFolders): Where the panels shown
            are written for Gradio to serve.
    """

    def __init__(self, review_dir: Optional[str],
                 picture_folders: serving.SessionFolders):
        self.review_dir = review_dir
        self.picture_folders = picture_folders

    def open_run(self, folder: str) -> tuple:
        """Open the test run at ``folder`` (under the review folder): the
        run, its per-set scores with intervals, the test-set choices, its
        table, the image choices and the curves."""
        if not self.review_dir:
            raise gr.Error('No run can be opened: start the app with '
                           '--review FOLDER.')
        test_run = review.open_under(self.review_dir, folder)
        table = test_run.table()
        keys = image_keys(table)
        return (test_run, test_run.summary(),
                gr.Dropdown(choices=['all', *test_run.test_sets],
                            value='all'), table,
                gr.Dropdown(choices=keys,
                            value=keys[0]), curve_frame(test_run))

    def filter_run(self, test_run, test_set: str) -> tuple:
        """The table and image choices of one test set (or ``'all'``)."""
        _check_open(test_run)
        table = test_run.table(None if test_set == 'all' else test_set)
        keys = image_keys(table)
        return table, gr.Dropdown(
            choices=keys, value=keys[0] if keys else None)

    @staticmethod
    def pick_row(table, event: gr.SelectData) -> str:
        """The image key of the table row clicked."""
        row = table.values[event.index[0]] if hasattr(table, 'values') \
            else table[event.index[0]]
        return f'{row[0]}/{row[1]}'

    def show_image(self, test_run, image_key: str, threshold: float) -> tuple:
        """The four panels of one image at ``threshold``, and its scores."""
        if not image_key:
            return None, None, None, None, ''
        _check_open(test_run)
        test_set, _, image = image_key.partition('/')
        try:
            panels = test_run.panels(test_set, image, threshold)
            row = test_run.row(test_set, image)
        except (KeyError, review.OutsideTheRun) as error:
            raise gr.Error(str(error).strip('"')) from None
        scores = ', '.join(f'{c} {row[c]:.4f}'
                           for c in review.TABLE_COLUMNS[2:])
        files = serving.picture_files(self.picture_folders.new(), [
            panels[k]
            for k in ('frame', 'ground_truth', 'prediction', 'errors')
        ])
        return (*files, f'**{image_key}**: {scores}')

    def build(self, app) -> None:
        """Make the tab's widgets (inside ``gr.Blocks`` ``app``) and wire
        them; with a review folder, the page opens it on load."""
        # The opened TestRun is kept per session: its CSV is read once.
        opened_run = gr.State(None)
        with gr.Row():
            folder = gr.Textbox(
                value='.' if self.review_dir else '',
                label='Test run folder (tools/test.py --out), under the '
                'review folder')
            open_button = gr.Button('Open', variant='primary')
        with gr.Row():
            test_set = gr.Dropdown(['all'], value='all', label='Test set')
            image_key = gr.Dropdown([], label='Image (worst first)')
            threshold = gr.Slider(
                0.01, 0.99, value=0.5, step=0.01, label='Threshold')
        summary = gr.Dataframe(
            headers=['test set', 'images', *review.TABLE_COLUMNS[2:]],
            label='Scores per test set (95% bootstrap interval over images)',
            interactive=False)
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
        opened = [opened_run, summary, test_set, table, image_key, curve]
        open_run = page_errors(self.open_run)
        open_button.click(open_run, [folder], opened, api_name='open_run')
        test_set.change(
            page_errors(self.filter_run), [opened_run, test_set],
            [table, image_key],
            api_name='filter_run')
        table.select(
            self.pick_row, [table], [image_key], api_visibility='private')
        show_image = page_errors(self.show_image)
        for trigger, name in ((image_key.change, 'show_image'),
                              (threshold.release, 'review_rethreshold')):
            trigger(
                show_image, [opened_run, image_key, threshold],
                [*panels, scores],
                api_name=name)
        if self.review_dir:
            app.load(open_run, [folder], opened)
