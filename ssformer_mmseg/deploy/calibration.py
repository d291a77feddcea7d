"""The frames int8 calibration (and accuracy-aware quantization) reads: real
training frames, never random tensors, through the config's test pipeline.

By default a seeded sample of the config's training split; or the images of
a folder. The validation frames of accuracy-aware quantization come from the
training split too, disjoint from the calibration frames: the test sets are
never used to choose a model.
"""
import hashlib
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

from ..datasets.polyp_files import read_image, read_mask, scan_image_folder
from ..evaluation.saved_maps import ground_truth

#: Calibration frames by default: a few hundred, as NNCF recommends.
DEFAULT_CALIBRATION_COUNT = 300
#: Validation frames of accuracy-aware quantization by default.
DEFAULT_VALIDATION_COUNT = 100


@dataclass
class FrameSet:
    """Images chosen for calibration or validation.

    Attributes:
        source (str): ``'training split'`` or ``'folder'``.
        description (str): Which split or folder.
        seed (int): Seed of the choice.
        available (int): Images there were to choose from.
        images (list[str]): The chosen images, in the order they are read.
        masks (list[str]): Their ground-truth masks (training split only).
    """
    source: str
    description: str
    seed: int
    available: int
    images: List[str] = field(default_factory=list)
    masks: List[str] = field(default_factory=list)

    def summary(self) -> dict:
        """What ``deploy.json`` records: where from, how many, the seed and
        a SHA-256 of the chosen names (equal names, equal calibration)."""
        names = [osp.basename(path) for path in self.images]
        return dict(
            source=self.source,
            description=self.description,
            seed=self.seed,
            available=self.available,
            count=len(names),
            names_sha256=hashlib.sha256('\n'.join(names).encode()).hexdigest(),
            first_names=names[:5])


def choose(count: int, available: int, seed: int,
           exclude: Sequence[int] = ()) -> List[int]:
    """``count`` indices of ``range(available)`` minus ``exclude``, drawn
    with ``seed`` (all of them if there are fewer), in ascending order."""
    pool = np.setdiff1d(np.arange(available), np.asarray(exclude, int))
    if count >= len(pool):
        return pool.tolist()
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, size=count, replace=False).tolist())


def has_data_root(cfg: Config) -> bool:
    """Whether the config's ``data_root`` is a folder here (its training
    split can be read for calibration and timing)."""
    data_root = cfg.get('data_root')
    return isinstance(data_root, str) and osp.isdir(data_root)


def training_frames(cfg: Config,
                    count: int = DEFAULT_CALIBRATION_COUNT,
                    seed: int = 0,
                    exclude: Sequence[str] = ()) -> FrameSet:
    """A seeded sample of the config's training split (with masks).

    Args:
        cfg (Config): The config (its ``train_dataloader``).
        count (int): Frames to choose.
        seed (int): Seed of the choice.
        exclude (Sequence[str]): Image paths not to choose (the calibration
            frames, when choosing validation frames).

    Raises:
        ValueError: If the config has no training dataloader, or its split
            has no images left to choose.
    """
    if cfg.get('train_dataloader') is None:
        raise ValueError('the config has no train_dataloader to calibrate '
                         'from; give a folder of frames (--calib-data)')
    samples = ground_truth(cfg, dataloader='train_dataloader')
    paths = [s['img_path'] for s in samples]
    excluded = set(exclude)
    chosen = choose(count, len(paths), seed,
                    [i for i, p in enumerate(paths) if p in excluded])
    if not chosen:
        raise ValueError('the training split has no frames left to choose')
    sets = sorted({s['dataset_name'] for s in samples})
    return FrameSet('training split',
                    f'train_dataloader of {cfg.filename} ({", ".join(sets)})',
                    seed, len(paths), [paths[i] for i in chosen],
                    [samples[i]['seg_map_path'] for i in chosen])


def folder_frames(folder: str,
                  count: int = DEFAULT_CALIBRATION_COUNT,
                  seed: int = 0) -> FrameSet:
    """A seeded sample of the images of a folder (no masks).

    Raises:
        PolypFileError: If the folder has no images or two share a stem.
    """
    paths = scan_image_folder(folder).check('image').paths()
    chosen = choose(count, len(paths), seed)
    return FrameSet('folder', osp.abspath(folder), seed, len(paths),
                    [paths[i] for i in chosen])


def network_inputs(
        frames: FrameSet,
        preprocess: Callable[[list], dict],
        progress: Optional[Callable[[int, int],
                                    None]] = None) -> List[np.ndarray]:
    """Every chosen frame as the network's (1, 3, H, W) float32 input.

    Args:
        frames (FrameSet): The frames.
        preprocess (Callable): The segmenter's
            :meth:`~ssformer_mmseg.apis.PolypSegmenter.preprocess` (the
            config's test pipeline and data preprocessor).
        progress (Callable, optional): ``progress(done, total)``.
    """
    inputs = []
    for done, path in enumerate(frames.images, 1):
        batch = preprocess([read_image(path)])['inputs']
        inputs.append(batch.float().numpy())
        if progress is not None:
            progress(done, len(frames.images))
    return inputs


def masks(frames: FrameSet) -> Iterator[np.ndarray]:
    """The chosen frames' {0, 1} masks at their own size."""
    for path in frames.masks:
        yield read_mask(path)
