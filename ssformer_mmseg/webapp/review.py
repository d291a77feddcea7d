"""What the web app's *Review a run* tab reads: the folder of a test run
(``tools/test.py --out``, laid out as
:mod:`~ssformer_mmseg.evaluation.run_folder` says), its images sorted by
Dice, and each image's frame, ground truth, prediction and error map.

Every file is opened through :meth:`TestRun.file`, which refuses a path
that leaves the run folder, by ``..`` or through a symbolic link: the names
in the CSV come from a file anyone can edit.
"""
import csv
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

from ..datasets.polyp_files import PolypFileError, read_image, read_mask
from ..evaluation import run_folder
from ..evaluation.intervals import (BootstrapSettings, format_bounds,
                                    summary_intervals)
from ..evaluation.polyp_scores import MEAN_ROW

#: Per-image columns the table shows, in order.
TABLE_COLUMNS = ('test_set', 'image', 'mDice', 'mIoU', 'meanDic', 'Sm', 'wFm',
                 'MAE')
#: Error map colours (RGB): false positives, false negatives, true
#: positives.
FALSE_POSITIVE = (255, 64, 64)
FALSE_NEGATIVE = (64, 128, 255)
TRUE_POSITIVE = (255, 255, 255)


class NotATestRun(ValueError):
    """A folder the review tab cannot read; the message says why."""


class OutsideTheRun(ValueError):
    """A path that would leave the run folder."""


class TestRun:
    """A test run's output folder.

    Args:
        folder (str): The ``--out`` folder of ``tools/test.py``.

    Raises:
        NotATestRun: If it is not a folder, has no ``per_image.csv``, or the
            CSV lacks the columns a test run writes.
    """

    def __init__(self, folder: str):
        if not folder or not osp.isdir(folder):
            raise NotATestRun(f'{folder!r}: no such folder')
        self.root = osp.realpath(folder)
        csv_path = osp.join(self.root, run_folder.PER_IMAGE_CSV)
        if not osp.isfile(csv_path):
            raise NotATestRun(
                f'{folder}: not a test run (no {run_folder.PER_IMAGE_CSV}; '
                'write one with tools/test.py CONFIG CHECKPOINT --out DIR)')
        self.file(run_folder.PER_IMAGE_CSV)  # the CSV itself may be a link
        with open(csv_path, newline='') as f:
            reader = csv.DictReader(f)
            missing = [
                c for c in TABLE_COLUMNS if c not in (reader.fieldnames or ())
            ]
            if missing:
                raise NotATestRun(f'{csv_path}: not a test run\'s CSV '
                                  f'(no {", ".join(missing)} column)')
            try:
                self.rows = [self._parsed(row) for row in reader]
            except ValueError as error:
                raise NotATestRun(f'{csv_path}: {error}') from None
        if not self.rows:
            raise NotATestRun(f'{csv_path}: no images')

    @staticmethod
    def _parsed(row: Dict[str, str]) -> dict:
        parsed = dict(row)
        for column in TABLE_COLUMNS[2:]:
            parsed[column] = float(row[column])
        return parsed

    def file(self, relative: str) -> str:
        """The real path of ``relative`` inside the run folder.

        Raises:
            OutsideTheRun: If it resolves (through ``..`` or links) to a
                place outside the folder, or is absolute.
        """
        if osp.isabs(relative):
            raise OutsideTheRun(f'{relative}: absolute paths are not read')
        real = osp.realpath(osp.join(self.root, relative))
        if osp.commonpath([real, self.root]) != self.root:
            raise OutsideTheRun(
                f'{relative}: outside the run folder {self.root}; not read')
        return real

    @property
    def test_sets(self) -> List[str]:
        """The run's test sets, in CSV order."""
        return list(dict.fromkeys(row['test_set'] for row in self.rows))

    def table(self, test_set: Optional[str] = None) -> List[list]:
        """Rows of :data:`TABLE_COLUMNS`, worst mDice first (ties in CSV
        order), of one test set or all."""
        rows = [r for r in self.rows if test_set in (None, '', r['test_set'])]
        rows = sorted(rows, key=lambda r: r['mDice'])
        return [[r[c] for c in TABLE_COLUMNS] for r in rows]

    def summary(self,
                bootstrap: Optional[BootstrapSettings] = None) -> List[list]:
        """Per test set and the mean over the sets: the images and each
        score of :data:`TABLE_COLUMNS` (the mean of its per-image values,
        as the test table has it) with its bootstrap interval (default
        :class:`BootstrapSettings`), e.g.
        ``'0.7940 (0.7512–0.8321)'``."""
        metrics = TABLE_COLUMNS[2:]
        inputs = {
            name: {
                m: np.array([r[m] for r in self.rows if r['test_set'] == name])
                for m in metrics
            }
            for name in self.test_sets
        }
        intervals = summary_intervals(inputs, bootstrap or BootstrapSettings())
        rows = []
        for name in [*inputs, MEAN_ROW]:
            members = list(inputs) if name == MEAN_ROW else [name]
            cells = []
            for m in metrics:
                value = float(np.mean([inputs[s][m].mean() for s in members]))
                cell = f'{value:.4f}'
                if intervals is not None:
                    cell += f' ({format_bounds(intervals.bounds[name][m])})'
                cells.append(cell)
            images = sum(len(inputs[s][metrics[0]]) for s in members)
            rows.append([name, images, *cells])
        return rows

    def row(self, test_set: str, image: str) -> dict:
        for row in self.rows:
            if (row['test_set'], row['image']) == (test_set, image):
                return row
        raise KeyError(f'{test_set}/{image}: not in this run')

    def panels(self,
               test_set: str,
               image: str,
               threshold: float = 0.5) -> Dict[str, np.ndarray]:
        """RGB pictures of one image: ``frame``, ``ground_truth``,
        ``prediction`` (the probability map) and ``errors`` (false
        positives and negatives at ``threshold`` in two colours).

        Raises:
            KeyError: If the image is not in the run.
            OutsideTheRun: If one of its files would be outside the folder.
            NotATestRun: If one is missing or cannot be read.
        """
        self.row(test_set, image)
        # Every path is checked to stay inside before any is looked at.
        paths = dict(
            ground_truth=self.file(
                run_folder.ground_truth_file(test_set, image)),
            prediction=self.file(run_folder.prob_map_file(test_set, image)))
        self.file(run_folder.frames_folder(test_set))
        frame_file = run_folder.find_frame(self.root, test_set, image)
        paths['frame'] = None if frame_file is None else self.file(frame_file)
        for kind, path in paths.items():
            if path is None or not osp.isfile(path):
                raise NotATestRun(f'{test_set}/{image}: its {kind} file is '
                                  'missing from the run folder')
        try:
            frame = read_image(paths['frame'])
            truth = read_mask(paths['ground_truth']) > 0
            prob = cv2.imread(paths['prediction'], cv2.IMREAD_GRAYSCALE)
        except PolypFileError as error:
            raise NotATestRun(str(error)) from None
        if prob is None or prob.shape != truth.shape:
            raise NotATestRun(f'{paths["prediction"]}: unreadable, or not '
                              'the ground truth\'s size')
        predicted = prob > threshold * 255
        return dict(
            frame=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB),
            ground_truth=np.repeat(
                truth[..., None].astype(np.uint8) * 255, 3, axis=2),
            prediction=cv2.cvtColor(
                cv2.applyColorMap(prob, cv2.COLORMAP_INFERNO),
                cv2.COLOR_BGR2RGB),
            errors=error_map(predicted, truth))

    def dice_curves(self) -> Dict[str, np.ndarray]:
        """``threshold`` and each set's mean Dice per threshold, from
        ``dice_vs_threshold.csv`` (empty if the run has none)."""
        path = self.file(run_folder.CURVES_CSV)
        if not osp.isfile(path):
            return {}
        try:
            with open(path, newline='') as f:
                reader = csv.DictReader(f)
                columns = {name: [] for name in reader.fieldnames or ()}
                for row in reader:
                    for name in columns:
                        columns[name].append(float(row[name]))
        except (ValueError, TypeError, csv.Error) as error:
            raise NotATestRun(
                f'{run_folder.CURVES_CSV}: not a Dice-vs-threshold table '
                f'({error})') from None
        if 'threshold' not in columns:
            raise NotATestRun(
                f'{run_folder.CURVES_CSV}: not a Dice-vs-threshold table '
                '(no threshold column)')
        return {name: np.asarray(v) for name, v in columns.items()}


def open_under(root: str, folder: str) -> TestRun:
    """The test run ``folder`` (absolute, or relative to ``root``) if it
    lies under ``root``; messages name paths relative to ``root`` only, and
    a folder outside it gets the same message whether it exists or not.

    Raises:
        NotATestRun: If it is outside ``root`` or not a test run.
    """
    real_root = osp.realpath(root)
    real = osp.realpath(osp.join(real_root, folder or '.'))
    if osp.commonpath([real, real_root]) != real_root:
        raise NotATestRun(f'{folder!r}: not a test run folder under the '
                          'review folder')
    try:
        return TestRun(real)
    except (NotATestRun, OutsideTheRun) as error:
        shown = str(error).replace(real_root + os.sep,
                                   '').replace(real_root, '.')
        raise NotATestRun(shown) from None


def error_map(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB map: true positives white, false positives red, false negatives
    blue, the rest black."""
    out = np.zeros((*truth.shape, 3), np.uint8)
    out[predicted & truth] = TRUE_POSITIVE
    out[predicted & ~truth] = FALSE_POSITIVE
    out[~predicted & truth] = FALSE_NEGATIVE
    return out
