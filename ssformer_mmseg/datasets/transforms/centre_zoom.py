"""SSFormer's random scale-crop: a zoom about the image centre."""
from numbers import Real
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

from .soft_masks import SOFT_MASK_KEY


def _centre_window(array: np.ndarray, height: int, width: int,
                   pad_val: int) -> np.ndarray:
    """The ``height x width`` window centred on ``array``, padded outside.

    The window starts at ``(size - window) // 2`` (floor), as PIL's
    ``crop`` box of the official code does; where it reaches past the array
    it holds ``pad_val``.
    """
    top = (array.shape[0] - height) // 2
    left = (array.shape[1] - width) // 2
    window = np.full((height, width) + array.shape[2:], pad_val, array.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    dst_top, dst_left = max(-top, 0), max(-left, 0)
    rows = min(array.shape[0] - src_top, height - dst_top)
    cols = min(array.shape[1] - src_left, width - dst_left)
    window[dst_top:dst_top + rows, dst_left:dst_left + cols] = \
        array[src_top:src_top + rows, src_left:src_left + cols]
    return window


@TRANSFORMS.register_module()
class RandomCentreZoom(BaseTransform):
    """Zoom in or out about the image centre, keeping the image size.

    The official SSFormer recipe's random scale-crop: with probability
    ``prob`` the image and its masks are resized by a ratio drawn uniformly
    from ``ratio_range`` and the window of the original size centred on the
    result is kept. Zooming in (ratio > 1) crops the border; zooming out
    pads it with ``pad_val`` (image) and ``seg_pad_val`` (masks; 0 is
    background, as officially). mmseg's ``RandomResize`` + ``RandomCrop``
    crop at a random position instead, and ``Pad`` pads at the bottom right
    only, so the object moves; here it stays centred.

    Label maps in ``seg_fields`` are resized nearest; the soft mask of
    :mod:`~ssformer_mmseg.datasets.transforms.soft_masks` takes the image's
    interpolation, as in the official code (which resizes both with PIL's
    default, bicubic).

    Required Keys:

    - img
    - gt_seg_map (optional, or any key in seg_fields)

    Modified Keys:

    - img
    - gt_seg_map (or any key in seg_fields)

    Args:
        prob (float): Probability of zooming. Defaults to 0.5.
        ratio_range (Sequence[float]): ``(low, high)`` of the ratio, both
            positive. Defaults to (0.75, 1.25).
        interpolation (str): Interpolation of the image (and soft mask),
            as in ``mmcv.imresize``. Defaults to 'bicubic'.
        backend (str): ``'pillow'`` (the official resize) or ``'cv2'``.
            Defaults to 'pillow'.
        pad_val (int): Image value outside a zoomed-out frame. Defaults to 0.
        seg_pad_val (int): Mask value there. Defaults to 0 (background).
    """

    def __init__(self,
                 prob: float = 0.5,
                 ratio_range: Sequence[float] = (0.75, 1.25),
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow',
                 pad_val: int = 0,
                 seg_pad_val: int = 0) -> None:
        if not isinstance(prob, Real) or not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob!r}')
        if (isinstance(ratio_range, str)
                or not isinstance(ratio_range, Sequence)
                or len(ratio_range) != 2
                or not all(isinstance(r, Real) for r in ratio_range)
                or not 0 < ratio_range[0] <= ratio_range[1]):
            raise ValueError('ratio_range must be (low, high) with '
                             f'0 < low <= high, got {ratio_range!r}')
        if backend not in ('pillow', 'cv2'):
            raise ValueError(
                f"backend must be 'pillow' or 'cv2', got {backend!r}")
        self.prob = prob
        self.ratio_range = (float(ratio_range[0]), float(ratio_range[1]))
        self.interpolation = interpolation
        self.backend = backend
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    @cache_randomness
    def _random_ratio(self) -> Optional[float]:
        """Draw the zoom ratio, or None to leave the sample alone."""
        if np.random.rand() >= self.prob:
            return None
        return float(np.random.uniform(*self.ratio_range))

    def _zoom(self, array: np.ndarray, ratio: float, interpolation: str,
              pad_val: int) -> np.ndarray:
        height, width = array.shape[:2]
        size = (int(np.round(width * ratio)), int(np.round(height * ratio)))
        resized = mmcv.imresize(
            array, size, interpolation=interpolation, backend=self.backend)
        return _centre_window(resized, height, width, pad_val)

    def transform(self, results: dict) -> dict:
        """Zoom the image and every map in ``seg_fields`` by one ratio."""
        ratio = self._random_ratio()
        if ratio is None:
            return results
        results['img'] = self._zoom(results['img'], ratio, self.interpolation,
                                    self.pad_val)
        for key in results.get('seg_fields', []):
            interpolation = (
                self.interpolation if key == SOFT_MASK_KEY else 'nearest')
            results[key] = self._zoom(results[key], ratio, interpolation,
                                      self.seg_pad_val)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'ratio_range={self.ratio_range}, '
                f'interpolation={self.interpolation!r}, '
                f'backend={self.backend!r}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')
