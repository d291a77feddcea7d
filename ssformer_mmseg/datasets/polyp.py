"""Binary polyp segmentation datasets: one class, one subclass per public set.

All sets share the layout written by ``tools/prepare_polyp_data.py``::

    <data_root>/<folder>/images/<stem>.jpg|.png|...
    <data_root>/<folder>/masks/<stem>.png|.jpg|...
    <data_root>/splits/pranet/{kvasir,clinicdb}_{train,test}.txt
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..messages import listing
from .holdout import check_holdout, holdout_part
from .polyp_files import (IMAGE_SUFFIXES, PolypFileError, check_split_stems,
                          read_split_file, scan_image_folder)


@DATASETS.register_module()
class PolypDataset(BaseSegDataset):
    """Binary polyp segmentation: classes ``('background', 'polyp')``.

    Images and masks are paired by file stem, whatever their suffixes, so
    JPEG, PNG and TIFF sets share one class. An optional split file (one
    stem a line, given as ``ann_file``) selects a subset. Masks are binarised
    at ``> 127`` when loaded (``LoadPolypAnnotations``), which turns
    JPEG-compressed and soft ground truth into exact {0, 1} labels.

    Everything is checked when the dataset is built, so problems surface
    before training, each naming its file: a missing or empty folder, an
    image without mask, a mask without image, two files with one stem, and
    a split-file stem without image.

    ``holdout`` divides the (split's) frames into a training and a
    validation part, the same on every run (see
    :mod:`ssformer_mmseg.datasets.holdout`): give the training dataset
    ``part='train'`` and the validation dataset ``part='val'`` with the same
    ``fraction`` and ``seed``, and checkpoints can be chosen on frames never
    trained on (mmengine's ``save_best``) instead of on the test sets.

    Args:
        img_suffix (str | Sequence[str]): Suffix(es) of image files
            (case-insensitive). Default: common image suffixes.
        seg_map_suffix (str | Sequence[str]): Suffix(es) of mask files.
            Default: common image suffixes.
        data_prefix (dict): Image and mask folders, relative to
            ``data_root``. Default: ``FOLDER/images`` and ``FOLDER/masks``.
        **kwargs: Other arguments of :class:`BaseSegDataset`
            (``data_root``, ``ann_file``, ``pipeline``, ...).
    """

    METAINFO = dict(
        classes=('background', 'polyp'), palette=[[0, 0, 0], [255, 64, 64]])
    #: Folder of the set under the prepared data root.
    FOLDER = ''
    #: Name of the set, stored in every sample as ``dataset_name`` (so it
    #: survives ``ConcatDataset``, whose parts must share ``METAINFO``).
    DATASET_NAME = 'Polyp'

    def __init__(self,
                 img_suffix: Union[str, Sequence[str]] = IMAGE_SUFFIXES,
                 seg_map_suffix: Union[str, Sequence[str]] = IMAGE_SUFFIXES,
                 data_prefix: dict = None,
                 holdout: Optional[dict] = None,
                 **kwargs) -> None:
        self.holdout = None if holdout is None else check_holdout(holdout)
        if data_prefix is None:
            data_prefix = dict(
                img_path=osp.join(self.FOLDER, 'images'),
                seg_map_path=osp.join(self.FOLDER, 'masks'))
        super().__init__(
            img_suffix=_suffixes(img_suffix),
            seg_map_suffix=_suffixes(seg_map_suffix),
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Pair images and masks by stem and check them (see class doc)."""
        img_dir = self.data_prefix['img_path']
        mask_dir = self.data_prefix['seg_map_path']
        images = self._files_by_stem(img_dir, self.img_suffix, 'image')
        masks = self._files_by_stem(mask_dir, self.seg_map_suffix, 'mask')
        if self.ann_file:
            split = read_split_file(self.ann_file, self.backend_args)
            check_split_stems(self.ann_file, split, images, img_dir)
            stems = list(split)
        else:
            stems = sorted(images)
            extra = sorted(set(masks) - set(images))
            if extra:
                raise PolypFileError(
                    mask_dir,
                    'masks without image: ' + listing(masks[s] for s in extra))
        missing = [images[s] for s in stems if s not in masks]
        if missing:
            raise PolypFileError(
                img_dir,
                f'images without mask in {mask_dir}: ' + listing(missing))
        if self.holdout is not None:
            stems = holdout_part(stems, *self.holdout)
        return [
            dict(
                img_path=osp.join(img_dir, images[stem]),
                seg_map_path=osp.join(mask_dir, masks[stem]),
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[],
                dataset_name=self.DATASET_NAME) for stem in stems
        ]

    def _files_by_stem(self, folder: str, suffixes: Sequence[str],
                       kind: str) -> Dict[str, str]:
        return scan_image_folder(
            folder, kind, suffixes,
            backend_args=self.backend_args).check(kind).files


def _suffixes(suffix: Union[str, Sequence[str]]) -> tuple:
    return tuple(s.lower()
                 for s in ((suffix, ) if isinstance(suffix, str) else suffix))


@DATASETS.register_module()
class KvasirSEGDataset(PolypDataset):
    """Kvasir-SEG (Jha et al., MMM 2020): 1000 frames, 332-1920 px wide."""
    DATASET_NAME = 'Kvasir'
    FOLDER = 'kvasir-seg'


@DATASETS.register_module()
class CVCClinicDBDataset(PolypDataset):
    """CVC-ClinicDB (Bernal et al., CMIG 2015): 612 frames, 384x288."""
    DATASET_NAME = 'CVC-ClinicDB'
    FOLDER = 'cvc-clinicdb'


@DATASETS.register_module()
class CVCColonDBDataset(PolypDataset):
    """CVC-ColonDB (Bernal et al., Pattern Recognition 2012): 380 frames."""
    DATASET_NAME = 'CVC-ColonDB'
    FOLDER = 'cvc-colondb'


@DATASETS.register_module()
class ETISLaribPolypDBDataset(PolypDataset):
    """ETIS-LaribPolypDB (Silva et al., IJCARS 2014): 196 frames."""
    DATASET_NAME = 'ETIS-LaribPolypDB'
    FOLDER = 'etis-laribpolypdb'


@DATASETS.register_module()
class CVC300Dataset(PolypDataset):
    """CVC-300, the EndoScene test split (Vazquez et al., 2017): 60 frames."""
    DATASET_NAME = 'CVC-300'
    FOLDER = 'cvc-300'
