"""The folder ``tools/test.py --out`` writes, which the web app's review tab
(:mod:`ssformer_mmseg.webapp.review`) reads.

Layout (``<set>`` is the test set's name, ``<stem>`` the image's)::

    <out>/<set>/<stem>.png                8-bit probability map (toolboxes)
    <out>/per_image.csv                   every image's scores
    <out>/scores.json, scores.csv         each set's scores and intervals
    <out>/dice_vs_threshold.csv, .png     each set's mean Dice per threshold
    <out>/review/frames/<set>/<stem>.*    a copy of the frame
    <out>/review/ground_truth/<set>/<stem>.png   its ground truth, 0/255

The frames and masks are copied so that the folder is complete on its own:
the review tab opens nothing outside it.
"""
import os
import os.path as osp
import shutil
from typing import Optional

import numpy as np

from ..datasets.image_io import write_image

PER_IMAGE_CSV = 'per_image.csv'
SCORES_JSON = 'scores.json'
SCORES_CSV = 'scores.csv'
CURVES_CSV = 'dice_vs_threshold.csv'
CURVES_PNG = 'dice_vs_threshold.png'
FRAMES_DIR = osp.join('review', 'frames')
GROUND_TRUTH_DIR = osp.join('review', 'ground_truth')


def prob_map_file(test_set: str, stem: str) -> str:
    """The probability map's path inside the folder."""
    return osp.join(test_set, stem + '.png')


def ground_truth_file(test_set: str, stem: str) -> str:
    """The ground truth copy's path inside the folder."""
    return osp.join(GROUND_TRUTH_DIR, test_set, stem + '.png')


def frames_folder(test_set: str) -> str:
    """The folder of a set's frame copies (they keep their own suffix)."""
    return osp.join(FRAMES_DIR, test_set)


def keep_inputs(out_dir: str, test_set: str, stem: str, image_path: str,
                ground_truth: np.ndarray) -> None:
    """Copy a scored image's frame and write its ground truth (0/255 PNG)
    into the run folder.

    Args:
        out_dir (str): The run folder.
        test_set (str): The image's test set.
        stem (str): The image's name without suffix.
        image_path (str): The frame's file, copied as it is.
        ground_truth (np.ndarray): (H, W) mask, polyp where non-zero.
    """
    frames = osp.join(out_dir, frames_folder(test_set))
    truth = osp.join(out_dir, ground_truth_file(test_set, stem))
    os.makedirs(frames, exist_ok=True)
    os.makedirs(osp.dirname(truth), exist_ok=True)
    suffix = osp.splitext(image_path)[1].lower()
    shutil.copyfile(image_path, osp.join(frames, stem + suffix))
    write_image(truth, np.where(ground_truth > 0, 255, 0).astype(np.uint8))


def find_frame(out_dir: str, test_set: str, stem: str) -> Optional[str]:
    """The frame copy's path inside the folder (any suffix), or None."""
    folder = osp.join(out_dir, frames_folder(test_set))
    if not osp.isdir(folder):
        return None
    for name in sorted(os.listdir(folder)):
        if osp.splitext(name)[0] == stem:
            return osp.join(frames_folder(test_set), name)
    return None
