"""What the model trains on: augmented samples of a config's training set
with their masks drawn, so misaligned masks and broken augmentations stand
out."""
import copy
from typing import Callable, Optional

import numpy as np
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from .overlays import GREEN, draw_overlay, labelled_row, tint

#: Transforms that change a sample at random; left out for the first column.
AUGMENTATIONS = ('RandomApply', 'RandomResize', 'RandomCrop', 'RandomFlip',
                 'RandomRotate', 'RandomImageEnhance', 'RandomMaskDilateErode',
                 'PhotoMetricDistortion')
_GREY = (128, 128, 128)


def draw_sample(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the polyp (label 1) tinted green and outlined, and
    ignored pixels (255) greyed."""
    drawn = draw_overlay(
        image.astype(np.uint8), mask == 1, GREEN, alpha=0.4, thickness=1)
    return tint(drawn, mask == 255, _GREY, 0.5)


def draw_training_samples(
        cfg: Config,
        samples: int = 6,
        views: int = 5,
        seed: int = 0,
        progress: Optional[Callable[[int, int, str],
                                    None]] = None) -> np.ndarray:
    """One row per training sample: as loaded (resized to the training
    size, no augmentation), then ``views`` random augmentations of it from
    the config's training pipeline.

    Args:
        cfg (Config): A config with ``train_dataloader`` and
            ``train_pipeline``.
        samples (int): Rows (random samples of the training set).
        views (int): Augmented views per sample.
        seed (int): Seed of the sample choice and of the augmentations.
        progress (Callable, optional): ``progress(done, total, image
            path)`` after each row.

    Returns:
        np.ndarray: The picture, BGR uint8.
    """
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    pipeline = [
        step for step in cfg.train_pipeline if step['type'] != 'PackSegInputs'
    ]
    augmented = Compose(pipeline)
    plain = Compose([s for s in pipeline if s['type'] not in AUGMENTATIONS])

    def render(steps: Compose, info: dict) -> np.ndarray:
        # Transforms append to lists inside the sample (seg_fields): each
        # view needs its own deep copy.
        results = steps(copy.deepcopy(info))
        return draw_sample(results['img'], results['gt_seg_map'])

    rng = np.random.default_rng(seed)
    indices = rng.choice(
        len(dataset), min(samples, len(dataset)), replace=False)
    np.random.seed(seed)  # the transforms draw from numpy's global RNG
    rows = []
    for count, index in enumerate(indices, 1):
        info = dataset.get_data_info(int(index))
        tiles = [render(plain, info)]
        tiles += [render(augmented, info) for _ in range(views)]
        rows.append(labelled_row(tiles, ['loaded'] + ['augmented'] * views))
        if progress is not None:
            progress(count, len(indices), info['img_path'])
    return np.concatenate(rows, axis=0)
