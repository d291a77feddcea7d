"""Building a segmentor from a config and loading its checkpoint strictly:
the one way every entry point (inference, export, the benchmark) gets a
PyTorch model."""
from typing import Optional

import torch.nn as nn

from ..config import ConfigLike, load_config
from ..datasets.polyp import PolypDataset


def load_segmentor(config: ConfigLike,
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a segmentor with mmseg's ``init_model`` and load a checkpoint
    strictly.

    ``init_model`` (no pretrained download, eval mode) loads weights
    non-strictly, so a checkpoint of another model would only log missing
    keys and give random predictions, and it fails on checkpoints without
    ``meta`` (a bare state dict). Here the model is built without weights
    and the checkpoint is loaded with ``strict=True``; ``dataset_meta``
    comes from the checkpoint, else it is the polyp classes and palette.

    Args:
        config (str | Config): Config file or object (not modified).
        checkpoint (str, optional): Weights; None keeps random weights.
        device (str): Device of the returned model.
        cfg_options (dict, optional): Config overrides.

    Returns:
        nn.Module: The segmentor in eval mode (SyncBN reverted on CPU).

    Raises:
        RuntimeError: If the checkpoint does not fit the model (lists the
            keys).
    """
    # Imported here: mmseg.apis pulls in the visualiser stack.
    from mmengine.model import revert_sync_batchnorm
    from mmengine.runner import load_checkpoint
    from mmseg.apis import init_model
    cfg = load_config(config, cfg_options)
    model = init_model(cfg, None, device='cpu')
    model.dataset_meta = dict(PolypDataset.METAINFO)
    if checkpoint is not None:
        loaded = load_checkpoint(
            model, checkpoint, map_location='cpu', strict=True)
        meta = loaded.get('meta', {}) if isinstance(loaded, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    if device == 'cpu':
        model = revert_sync_batchnorm(model)
    return model.to(device).eval()
