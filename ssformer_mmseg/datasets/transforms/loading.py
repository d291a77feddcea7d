"""Loading transforms that refuse bad polyp files instead of mis-reading."""
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ..polyp_files import (binarise_mask, check_sizes_match, image_from_bytes,
                           mask_from_bytes, read_bytes)
from .soft_masks import SOFT_MASK_KEY


@TRANSFORMS.register_module()
class LoadPolypImage(LoadImageFromFile):
    """Load a colour frame, stopping with its path if it is unusable.

    mmcv's ``LoadImageFromFile`` converts grayscale and RGBA files silently
    and can decode a truncated file into a partly grey image; this transform
    raises :class:`PolypFileError` naming the file instead (see
    :mod:`ssformer_mmseg.datasets.polyp_files`). The image is BGR uint8
    (float32 with ``to_float32=True``), like mmcv's.

    Args:
        **kwargs: Arguments of ``LoadImageFromFile`` (``to_float32``,
            ``backend_args``); decoding options do not apply.
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        img = image_from_bytes(read_bytes(path, self.backend_args), path)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadPolypAnnotations(LoadAnnotations):
    """Load a polyp mask as {0, 1} labels, binarised at ``> 127``.

    The mask is checked (see :mod:`ssformer_mmseg.datasets.polyp_files`)
    and must have the original size of its image (``ori_shape``), also when
    the image was resized before this transform, as in test pipelines.

    A sample without a ``seg_map_path`` key (an image given to mmseg's
    ``inference_model``, which only removes steps named ``LoadAnnotations``)
    passes through unchanged, so test pipelines serve inference as written.
    Datasets always set the key.

    With ``soft_mask=True`` the checked grey levels (0-255, JPEG noise
    included) are also kept under ``gt_soft_seg_map`` (in ``seg_fields``),
    the soft target of the official SSFormer recipe (see
    :mod:`~ssformer_mmseg.datasets.transforms.soft_masks`).

    Args:
        soft_mask (bool): Also keep the grey mask. Default: False.
        **kwargs: Arguments of mmseg's ``LoadAnnotations``
            (``backend_args``).
    """

    def __init__(self, soft_mask: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.soft_mask = soft_mask

    def transform(self, results: dict) -> dict:
        if 'seg_map_path' not in results:
            return results
        return super().transform(results)

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        grey = mask_from_bytes(
            read_bytes(path, self.backend_args), path, soft=True)
        ori_shape = results.get('ori_shape')
        if ori_shape is not None:
            check_sizes_match(path, 'mask', grey.shape, 'image',
                              results.get('img_path'), ori_shape)
        results['gt_seg_map'] = binarise_mask(grey)
        results['seg_fields'].append('gt_seg_map')
        if self.soft_mask:
            results[SOFT_MASK_KEY] = grey
            results['seg_fields'].append(SOFT_MASK_KEY)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(soft_mask={self.soft_mask}, '
                f'backend_args={self.backend_args})')
