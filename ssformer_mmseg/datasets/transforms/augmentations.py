"""The two SSFormer training augmentations that mmseg/mmcv do not provide.

SSFormer's official recipe also resizes, scale-crops, flips and rotates;
those steps are covered by mmseg's ``Resize``, ``RandomFlip`` and
``RandomRotate`` and, for the scale-crop, by ``RandomResize`` +
``RandomCrop`` (our configs) or ``RandomCentreZoom`` (the official centred
zoom, :mod:`.centre_zoom`). This module adds the photometric
enhancement (PIL ``ImageEnhance`` semantics, reimplemented on BGR arrays)
and the random dilation/erosion of the mask.
"""
from numbers import Integral, Real
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

from .soft_masks import SOFT_MASK_KEY

# PIL's 'L' conversion in 16-bit fixed point, with the +0.5 rounding term
# as a fourth (offset) column; ordered B, G, R for BGR images. All terms are
# multiples of 2**-16 below 256, so float32 evaluates them exactly.
_PIL_LUMA_BGR = np.array([[7471, 38470, 19595, 32768]], np.float32) / 65536

# PIL's ImageFilter.SMOOTH, the degenerate image of ImageEnhance.Sharpness.
_PIL_SMOOTH_KERNEL = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]],
                              np.float32) / 13

# cv2 rounds to nearest where PIL truncates; shifting by just under -0.5
# turns the rounding into truncation. The 1e-4 margin stays above float32
# error on values below 512, so integral results (img == degenerate) are
# not pushed down a level; the cost is that results within 1e-4 below an
# integer round up, the rare one-level differences from PIL.
_TRUNCATE_SHIFT = -0.5 + 1e-4

#: RandomImageEnhance's default methods, in the official order.
ENHANCE_METHODS = ('contrast', 'sharpness', 'brightness')


def _blend_with_constant(img: np.ndarray, degenerate: int,
                         factor: float) -> np.ndarray:
    """PIL ``Image.blend(degenerate, img, factor)`` for a uniform degenerate.

    The result depends on the pixel value only, so it is a 256-entry lookup
    table evaluated with PIL's own float32 arithmetic, hence bit-exact.
    """
    values = np.arange(256, dtype=np.float32)
    base = np.float32(degenerate)
    blended = base + np.float32(factor) * (values - base)
    lut = np.clip(blended, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def _pil_luma_mean(img: np.ndarray) -> int:
    """Mean grey level as ``ImageEnhance.Contrast`` rounds it.

    PIL rounds each 'L' pixel to an integer before averaging, so the
    mean must be of rounded pixels; it is summed in float64 because a
    float32 sum over a whole image is not exact.
    """
    luma = np.floor(cv2.transform(img.astype(np.float32), _PIL_LUMA_BGR))
    mean = float(luma.sum(dtype=np.float64)) / luma.size
    return int(mean + 0.5)


def _pil_smooth(img: np.ndarray) -> np.ndarray:
    """PIL ``ImageFilter.SMOOTH``: 3x3 filter, outer ring copied unfiltered.

    cv2 rounds the uint8 result to nearest, as PIL does here.
    """
    smooth = cv2.filter2D(img, -1, _PIL_SMOOTH_KERNEL)
    smooth[[0, -1]] = img[[0, -1]]
    smooth[:, [0, -1]] = img[:, [0, -1]]
    return smooth


def _adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Brightness(img).enhance(factor)`` on a uint8 image.

    Args:
        img (np.ndarray): uint8 image, any channel order.
        factor (float): Enhancement factor; 1 returns the image unchanged.

    Returns:
        np.ndarray: ``img * factor`` clipped to [0, 255] and truncated,
        bit-exact with PIL.
    """
    return _blend_with_constant(img, 0, factor)


def _adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Contrast(img).enhance(factor)`` on a BGR uint8 image.

    Args:
        img (np.ndarray): HxWx3 uint8 image in BGR order.
        factor (float): Enhancement factor; 1 returns the image unchanged.

    Returns:
        np.ndarray: The image extrapolated away from a uniform grey at its
        mean luminance, bit-exact with PIL.
    """
    return _blend_with_constant(img, _pil_luma_mean(img), factor)


def _adjust_sharpness(img: np.ndarray, factor: float) -> np.ndarray:
    """``ImageEnhance.Sharpness(img).enhance(factor)`` on a uint8 image.

    Args:
        img (np.ndarray): uint8 image, any channel order.
        factor (float): Enhancement factor; 1 returns the image unchanged.

    Returns:
        np.ndarray: The image extrapolated away from its SMOOTH-filtered
        version. It equals PIL's except for rare pixels (about 1e-4 of
        them) one level apart, the price of one fused cv2 call instead of
        an exact float32 numpy chain about four times slower.
    """
    smooth = _pil_smooth(img)
    return cv2.addWeighted(img, factor, smooth, 1 - factor, _TRUNCATE_SHIFT)


@TRANSFORMS.register_module()
class RandomImageEnhance(BaseTransform):
    """Randomly enhance contrast, sharpness and brightness, as SSFormer does.

    The methods are visited in a random order; each is applied independently
    with probability ``prob``, with its own factor drawn uniformly from
    ``factor_range``. Each method reproduces PIL's ``ImageEnhance``
    (``degenerate + factor * (img - degenerate)``, clipped and truncated to
    uint8), computed with OpenCV on the BGR array:

    - brightness: the degenerate image is black;
    - contrast: a uniform grey at the mean of PIL's 'L' conversion
      (``0.299 R + 0.587 G + 0.114 B``), rounded as PIL rounds it;
    - sharpness: the image filtered by PIL's ``SMOOTH`` kernel
      (``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``), outer ring unfiltered.

    Brightness and contrast are bit-exact with PIL; sharpness differs by
    one level on rare pixels (see :func:`_adjust_sharpness`).

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        methods (Sequence[str]): Distinct names among ``'contrast'``,
            ``'sharpness'`` and ``'brightness'``. Defaults to all three.
        prob (float): Probability of applying each method. Defaults to 0.5.
        factor_range (Sequence[float]): ``(low, high)`` of the uniform
            factor, ``low <= factor < high``; ``low == high`` gives a fixed
            factor. Defaults to (1.0, 1.1), SSFormer's ``1 + U[0, 0.1]``.
    """

    _ADJUSTERS = {
        'brightness': _adjust_brightness,
        'contrast': _adjust_contrast,
        'sharpness': _adjust_sharpness,
    }

    def __init__(self,
                 methods: Sequence[str] = ENHANCE_METHODS,
                 prob: float = 0.5,
                 factor_range: Sequence[float] = (1.0, 1.1)):
        # A bare string is a sequence too, and would be read letter by letter.
        if isinstance(methods, str) or not isinstance(methods, Sequence):
            raise TypeError('methods must be a sequence of method names, '
                            f'got {methods!r}')
        if len(methods) == 0:
            raise ValueError('methods must name at least one method')
        unknown = [m for m in methods if m not in self._ADJUSTERS]
        if unknown:
            raise ValueError(f'unknown enhancement methods {unknown}; '
                             f'choose from {sorted(self._ADJUSTERS)}')
        if len(set(methods)) != len(methods):
            raise ValueError(f'methods must be distinct, got {methods!r}')
        if not isinstance(prob, Real) or not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob!r}')
        if (isinstance(factor_range, str)
                or not isinstance(factor_range, Sequence)
                or len(factor_range) != 2
                or not all(isinstance(f, Real) for f in factor_range)):
            raise TypeError('factor_range must be a (low, high) pair of '
                            f'numbers, got {factor_range!r}')
        low, high = factor_range
        if not 0 <= low <= high:
            raise ValueError('factor_range must satisfy 0 <= low <= high, '
                             f'got {factor_range!r}')
        self.methods = tuple(methods)
        self.prob = prob
        self.factor_range = (float(low), float(high))

    @cache_randomness
    def _random_plan(self) -> List[Tuple[str, float]]:
        """Draw which methods run, in which order, with which factors."""
        plan = []
        for index in np.random.permutation(len(self.methods)):
            if np.random.rand() < self.prob:
                plan.append((self.methods[index],
                             np.random.uniform(*self.factor_range)))
        return plan

    def transform(self, results: dict) -> dict:
        """Enhance ``results['img']``.

        Args:
            results (dict): Result dict holding a BGR uint8 ``img``.

        Returns:
            dict: ``results`` with the enhanced image; untouched when no
            method was drawn.

        Raises:
            ValueError: If the image is not an HxWx3 uint8 array (for
                example when loaded with ``to_float32=True``).
        """
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('RandomImageEnhance needs an HxWx3 uint8 BGR '
                             f'image, got {img.dtype} of shape {img.shape}')
        for method, factor in self._random_plan():
            img = self._ADJUSTERS[method](img, factor)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(methods={self.methods}, '
        repr_str += f'prob={self.prob}, '
        repr_str += f'factor_range={self.factor_range})'
        return repr_str


@TRANSFORMS.register_module()
class RandomMaskDilateErode(BaseTransform):
    """Randomly dilate or erode the segmentation masks, as SSFormer does.

    With probability ``dilate_prob`` the foreground (label 1) is dilated,
    with probability ``erode_prob`` it is eroded, otherwise the masks are
    left alone. The structuring element is a ``k x k`` ellipse
    (``cv2.MORPH_ELLIPSE``) with ``k`` drawn uniformly from
    ``range(*kernel_range)``: the upper bound is exclusive, as in
    ``np.random.randint``, so the default (2, 5) gives k in {2, 3, 4}. Even
    sizes have cv2's off-centre anchor, so they move the boundary by one
    pixel more on one side than the other, as in the official recipe.

    Every mask in ``results['seg_fields']`` gets the same operation and
    kernel; the image is never touched. A grey soft mask
    (:data:`~ssformer_mmseg.datasets.transforms.soft_masks.SOFT_MASK_KEY`)
    gets grey-level dilation or erosion (a local maximum or minimum), which
    is what the official code applies to its 0-255 mask. Label masks hold
    0 (background), 1 (foreground) and possibly 255 (ignore, mmseg's
    padding value).
    Ignore pixels keep their value and never move the boundary: they count
    as background when dilating (so foreground never grows out of them)
    and as foreground when eroding (so they do not eat into the object),
    the same neutrality cv2 gives the image border.

    Required Keys:

    - gt_seg_map (or any key listed in seg_fields)

    Modified Keys:

    - gt_seg_map (or any key listed in seg_fields)

    Args:
        kernel_range (Sequence[int]): ``(low, high)`` of the kernel size,
            ``low <= k < high``, ``1 <= low < high``. Defaults to (2, 5).
        dilate_prob (float): Probability of dilating. Defaults to 1/3.
        erode_prob (float): Probability of eroding. Defaults to 1/3.
    """

    IGNORE_INDEX = 255

    def __init__(self,
                 kernel_range: Sequence[int] = (2, 5),
                 dilate_prob: float = 1 / 3,
                 erode_prob: float = 1 / 3) -> None:
        if (isinstance(kernel_range, str)
                or not isinstance(kernel_range, Sequence)
                or len(kernel_range) != 2 or not all(
                    isinstance(k, Integral) and not isinstance(k, bool)
                    for k in kernel_range)):
            raise TypeError('kernel_range must be a (low, high) pair of '
                            f'integers, got {kernel_range!r}')
        low, high = kernel_range
        if not 1 <= low < high:
            raise ValueError('kernel_range must satisfy 1 <= low < high '
                             f'(high is exclusive), got {kernel_range!r}')
        for name, prob in (('dilate_prob', dilate_prob), ('erode_prob',
                                                          erode_prob)):
            if not isinstance(prob, Real) or not 0 <= prob <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {prob!r}')
        if dilate_prob + erode_prob > 1:
            raise ValueError('dilate_prob + erode_prob must not exceed 1, '
                             f'got {dilate_prob} + {erode_prob}')
        self.kernel_range = (int(low), int(high))
        self.dilate_prob = dilate_prob
        self.erode_prob = erode_prob
        self._kernels: Dict[int, np.ndarray] = {
            k: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            for k in range(low, high)
        }

    @cache_randomness
    def _random_operation(self) -> Optional[Tuple[str, int]]:
        """Draw ``('dilate' | 'erode', kernel size)``, or None to skip."""
        draw = np.random.rand()
        if draw < self.dilate_prob:
            operation = 'dilate'
        elif draw < self.dilate_prob + self.erode_prob:
            operation = 'erode'
        else:
            return None
        return operation, int(np.random.randint(*self.kernel_range))

    def _apply(self, seg: np.ndarray, operation: str,
               kernel: np.ndarray) -> np.ndarray:
        """Dilate or erode one {0, 1, 255} mask, keeping its dtype."""
        ignore = seg == self.IGNORE_INDEX
        unexpected = (seg != 0) & (seg != 1) & ~ignore
        if unexpected.any():
            raise ValueError('RandomMaskDilateErode needs masks of 0, 1 and '
                             f'{self.IGNORE_INDEX} (ignore), found labels '
                             f'{np.unique(seg[unexpected]).tolist()}')
        if operation == 'dilate':
            morphed = cv2.dilate((seg == 1).view(np.uint8), kernel)
        else:
            morphed = cv2.erode((seg != 0).view(np.uint8), kernel)
        return np.where(ignore, seg, morphed.astype(seg.dtype))

    def transform(self, results: dict) -> dict:
        """Dilate or erode every mask in ``results['seg_fields']``.

        Args:
            results (dict): Result dict from the loading pipeline.

        Returns:
            dict: ``results`` with the masks changed in place of the old
            ones, or untouched when the draw skips.

        Raises:
            ValueError: If a mask holds labels other than 0, 1 and 255.
        """
        drawn = self._random_operation()
        if drawn is None:
            return results
        operation, size = drawn
        kernel = self._kernels[size]
        for key in results.get('seg_fields', []):
            if key == SOFT_MASK_KEY:
                morph = cv2.dilate if operation == 'dilate' else cv2.erode
                results[key] = morph(results[key], kernel)
            else:
                results[key] = self._apply(results[key], operation, kernel)
        return results

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(kernel_range={self.kernel_range}, '
        repr_str += f'dilate_prob={self.dilate_prob}, '
        repr_str += f'erode_prob={self.erode_prob})'
        return repr_str
