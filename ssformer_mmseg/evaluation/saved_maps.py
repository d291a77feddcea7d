"""Scoring saved prediction maps against ground truth, without a model.

This is how methods that only released their prediction maps are compared:
the maps are read as ``PRED_DIR/<test set>/<image stem>.png`` (the layout of
the public polyp toolboxes and of ``tools/test.py --out``), the ground truth
and the test sets come from a config's test dataloader, and every score is
computed exactly as :class:`~ssformer_mmseg.evaluation.PolypMetric`
computes it during testing.
"""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from ..config import dataset_parts
from ..datasets.polyp_files import (IMAGE_SUFFIXES, PolypFileError,
                                    check_sizes_match, decode, read_bytes,
                                    read_mask, scan_image_folder)
from ..messages import listing
from .polyp_scores import score_image
from .run_folder import GROUND_TRUTH_DIR


def ground_truth(cfg: Config,
                 sets: Optional[Sequence[str]] = None,
                 dataloader: str = 'test_dataloader') -> List[dict]:
    """Samples (image path, mask path, set name) of the config's test sets.

    Args:
        cfg (Config): A config with a test dataloader.
        sets (Sequence[str], optional): Names of the test sets to keep
            (``DATASET_NAME`` of their classes); default: all.
        dataloader (str): The dataloader whose datasets are read
            (``'train_dataloader'`` for the training split).

    Raises:
        ValueError: If ``sets`` names a set the config does not test.
    """
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    parts = dataset_parts(cfg[dataloader].dataset)
    names = [DATASETS.get(part['type']).DATASET_NAME for part in parts]
    if sets is not None:
        unknown = sorted(set(sets) - set(names))
        if unknown:
            what = 'test sets' if dataloader == 'test_dataloader' else \
                f'sets of {dataloader}'
            raise ValueError(f'{what} not in {cfg.filename}: '
                             f'{", ".join(unknown)} (it has '
                             f'{", ".join(names)})')
    samples = []
    for name, part in zip(names, parts):
        if sets is None or name in sets:
            dataset = DATASETS.build(dict(part, pipeline=[]))
            samples += [dataset.get_data_info(i) for i in range(len(dataset))]
    return samples


def run_folder_samples(out_dir: str) -> List[dict]:
    """Samples of a ``tools/test.py --out`` folder, from its ground-truth
    copies (``review/ground_truth/<set>/<stem>.png``): what
    :func:`score_saved_maps` scores the folder's own maps against.

    Raises:
        PolypFileError: If the folder holds no ground-truth copies.
    """
    root = osp.join(out_dir, GROUND_TRUTH_DIR)
    samples = []
    if osp.isdir(root):
        for test_set in sorted(os.listdir(root)):
            folder = osp.join(root, test_set)
            if not osp.isdir(folder):
                continue
            for path in scan_image_folder(folder, 'mask').paths():
                samples.append(
                    dict(
                        img_path=path,
                        seg_map_path=path,
                        dataset_name=test_set))
    if not samples:
        raise PolypFileError(
            out_dir, f'no ground truth under {GROUND_TRUTH_DIR}: not a '
            'tools/test.py --out folder (plain map folders are scored '
            'against a config\'s test sets)')
    return samples


def _stem(sample: dict) -> str:
    return osp.splitext(osp.basename(sample['img_path']))[0]


def find_map(pred_dir: str, sample: dict) -> Optional[str]:
    """The saved map of a sample, ``<pred_dir>/<set>/<stem>.<image
    suffix>``, or None."""
    folder = osp.join(pred_dir, sample['dataset_name'])
    for suffix in IMAGE_SUFFIXES:
        path = osp.join(folder, _stem(sample) + suffix)
        if osp.isfile(path):
            return path
    return None


def read_map(path: str) -> np.ndarray:
    """An 8-bit grey prediction map (colour maps are converted)."""
    pred = decode(read_bytes(path), path, 'map')
    if pred.dtype != np.uint8:
        raise PolypFileError(path, f'{pred.dtype} map; expected 8 bits')
    if pred.ndim == 3:
        pred = cv2.cvtColor(pred[..., :3], cv2.COLOR_BGR2GRAY)
    return pred


def score_saved_maps(
        pred_dir: str,
        samples: Sequence[dict],
        threshold: float = 0.5,
        progress: Optional[Callable[[int, int], None]] = None) -> List[dict]:
    """Score every sample's saved map (see
    :func:`~.polyp_scores.score_image`).

    Args:
        pred_dir (str): Folder of ``<test set>/<stem>.png`` maps.
        samples (Sequence[dict]): From :func:`ground_truth`.
        threshold (float): Threshold of ``mDice`` / ``mIoU``.
        progress (Callable, optional): Called as ``progress(done, total)``
            after each map.

    Raises:
        PolypFileError: Naming every missing map (before scoring any), or
            a map that cannot be read or has another size than its ground
            truth.
    """
    maps = [find_map(pred_dir, s) for s in samples]
    missing = [s for s, path in zip(samples, maps) if path is None]
    if missing:
        raise PolypFileError(
            pred_dir, f'{len(missing)} prediction maps missing: ' + listing(
                osp.join(s['dataset_name'],
                         _stem(s) + '.png') for s in missing))
    scores = []
    for count, (sample, path) in enumerate(zip(samples, maps), 1):
        pred = read_map(path)
        gt = read_mask(sample['seg_map_path'])
        check_sizes_match(path, 'map', pred.shape, 'ground truth',
                          sample['seg_map_path'], gt.shape)
        scores.append(
            score_image(pred, gt, threshold, sample['dataset_name'],
                        osp.splitext(osp.basename(path))[0]))
        if progress is not None:
            progress(count, len(samples))
    return scores
