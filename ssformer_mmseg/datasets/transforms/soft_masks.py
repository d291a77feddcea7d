"""Soft mask targets: the grey-level ground truth of the official recipe.

The official training resizes the 0-255 mask bilinearly together with the
image and trains on ``mask / 255`` as a soft target, where mmseg (and our
own configs) binarise the mask and resize it nearest. To follow the official
recipe in mmseg pipelines, ``LoadPolypAnnotations(soft_mask=True)`` keeps the
grey mask under :data:`SOFT_MASK_KEY` next to the binary ``gt_seg_map``;
every geometric transform that walks ``seg_fields`` moves it with the image;
:class:`SoftMaskResize` resizes it like the image instead of nearest;
:class:`PackPolypInputs` packs it as ``data_sample.gt_soft_sem_seg`` (0-1
floats), which ``PLDHead(soft_targets=True)`` hands to the losses.
"""
import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs, Resize
from mmseg.registry import TRANSFORMS

#: Results key of the grey (0-255 uint8) mask while the pipeline runs.
SOFT_MASK_KEY = 'gt_soft_seg_map'
#: Data-sample field of the packed soft target, (1, H, W) floats in [0, 1].
SOFT_TARGET_FIELD = 'gt_soft_sem_seg'


@TRANSFORMS.register_module()
class SoftMaskResize(Resize):
    """mmseg's ``Resize``, with the soft mask resized like the image.

    mmseg resizes every map in ``seg_fields`` with nearest-neighbour
    interpolation, right for labels but not for the grey mask of a soft
    target, which the official SSFormer recipe resizes bilinearly with the
    image. Here the soft mask (:data:`SOFT_MASK_KEY`) takes the image's
    ``interpolation`` and ``backend`` and lands at the image's new size;
    label maps are resized exactly as by ``Resize``.

    Args:
        **kwargs: Arguments of mmseg's ``Resize``; ``backend='pillow'``
            with ``interpolation='bilinear'`` is PIL's (antialiased)
            resize, the official one.
    """

    def _resize_seg(self, results: dict) -> None:
        fields = results.get('seg_fields', [])
        results['seg_fields'] = [k for k in fields if k != SOFT_MASK_KEY]
        try:
            super()._resize_seg(results)
        finally:
            results['seg_fields'] = fields
        soft = results.get(SOFT_MASK_KEY)
        if soft is not None:
            height, width = results['img'].shape[:2]
            results[SOFT_MASK_KEY] = mmcv.imresize(
                soft, (width, height),
                interpolation=self.interpolation,
                backend=self.backend)


@TRANSFORMS.register_module()
class PackPolypInputs(PackSegInputs):
    """mmseg's ``PackSegInputs``, also packing the soft mask if there is one.

    The grey mask under :data:`SOFT_MASK_KEY` becomes
    ``data_sample.gt_soft_sem_seg``: a ``PixelData`` of shape (1, H, W)
    holding ``mask / 255`` as float32. Without a soft mask this is
    ``PackSegInputs`` unchanged.

    Args:
        **kwargs: Arguments of ``PackSegInputs`` (``meta_keys``).
    """

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        soft = results.get(SOFT_MASK_KEY)
        if soft is not None:
            target = torch.from_numpy(
                np.ascontiguousarray(soft, dtype=np.float32) / 255)
            packed['data_samples'].set_data(
                {SOFT_TARGET_FIELD: PixelData(data=target[None])})
        return packed
