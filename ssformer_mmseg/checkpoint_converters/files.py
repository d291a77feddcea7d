"""Converting checkpoint files (what ``tools/model_converters/`` call)."""
import os.path as osp
from typing import List

import torch

from .mit import convert_mit
from .ssformer import convert_ssformer


class ConversionResult(list):
    """The dropped source keys (what :func:`convert_checkpoint_file` has
    always returned), with the number of converted tensors as
    :attr:`converted`, for the caller to report.

    Args:
        converted (int): Number of tensors written.
        dropped (list[str]): Source keys dropped as provably unused.
    """

    def __init__(self, converted: int, dropped: List[str]):
        super().__init__(dropped)
        self.converted = converted

    @property
    def dropped(self) -> List[str]:
        """The dropped source keys (the list itself)."""
        return list(self)


def convert_checkpoint_file(src: str, dst: str, kind: str) -> ConversionResult:
    """Convert the checkpoint file ``src`` and save the result as ``dst``.

    ``src`` is read with ``torch.load(weights_only=True)``, so a file that
    would run code when unpickled is refused.

    Args:
        src (str): Official checkpoint file.
        dst (str): Output file.
        kind (str): ``'ssformer'`` (:func:`convert_ssformer`; saved as
            ``{'state_dict', 'meta'}``, the mmengine checkpoint layout) or
            ``'mit'`` (:func:`convert_mit`; saved as a plain state dict, like
            mmseg's own converted MiT weights, for a ``Pretrained``
            ``init_cfg``).

    Returns:
        ConversionResult: The dropped source keys, a list, with the number
        of converted tensors as ``.converted``.
    """
    from .. import __version__
    converters = dict(ssformer=convert_ssformer, mit=convert_mit)
    if kind not in converters:
        raise ValueError(f'kind must be one of {sorted(converters)}, '
                         f'got {kind!r}')
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    converted, dropped = converters[kind](checkpoint)
    if kind == 'ssformer':
        from ..datasets import PolypDataset

        # The official models are binary polyp segmenters; with the names
        # and colours in meta, mmseg's init_model / MMSegInferencer use them.
        meta = dict(
            dataset_meta=dict(
                classes=PolypDataset.METAINFO['classes'],
                palette=PolypDataset.METAINFO['palette']),
            source=osp.basename(src),
            converter='ssformer_mmseg.checkpoint_converters.convert_ssformer',
            ssformer_mmseg_version=__version__,
            dropped_keys=dropped)
        torch.save(dict(state_dict=converted, meta=meta), dst)
    else:
        torch.save(converted, dst)
    return ConversionResult(len(converted), dropped)
