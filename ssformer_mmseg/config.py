"""Loading configs and the rules for walking and changing them.

Every entry point (tools, :class:`~ssformer_mmseg.apis.PolypSegmenter`, the
benchmark) loads configs through :func:`load_config`, and every place that
looks into a config's test datasets goes through :func:`dataset_parts`.
"""
import copy
import os.path as osp
from typing import Any, Iterator, List, Optional, Union

from mmengine.config import Config

from ._deprecation import moved_names, warn_deprecated

ConfigLike = Union[str, Config]


def load_config(config: Optional[ConfigLike] = None,
                cfg_options: Optional[dict] = None,
                path: Optional[str] = None) -> Config:
    """Load a config (or copy a Config object) and apply ``--cfg-options``.

    Beyond ``Config.merge_from_dict``, the option ``data_root=DIR`` moves
    every dataset of the config: configs compute each dataset's ``data_root``
    from the top-level ``data_root`` when they are parsed, so merging the
    top-level value alone would change nothing.

    Args:
        config (str | Config): Config file, or a Config object, which is
            deep-copied (never modified).
        cfg_options (dict, optional): Parsed ``--cfg-options``.
        path (str, optional): Deprecated name of ``config``.

    Returns:
        Config: The config, a private copy.
    """
    if path is not None:
        warn_deprecated('load_config(path=...)',
                        'pass the config as the first argument')
        config = path
    if config is None:
        raise TypeError('load_config() needs a config file or object')
    cfg = copy.deepcopy(config) if isinstance(config, Config) else \
        Config.fromfile(config)
    options = dict(cfg_options or {})
    data_root = options.pop('data_root', None)
    if options:
        cfg.merge_from_dict(options)
    if data_root is not None:
        set_data_root(cfg, data_root)
    return cfg


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset that uses the config's ``data_root`` elsewhere.

    Args:
        cfg (Config): A config with a top-level ``data_root``.
        data_root (str): The new root.

    Raises:
        KeyError: If the config has no top-level ``data_root``.
    """
    if 'data_root' not in cfg:
        raise KeyError('the config has no top-level data_root to override; '
                       'set the datasets\' data_root with --cfg-options '
                       'train_dataloader.dataset.data_root=... instead')
    old_root = cfg.data_root
    for node in config_dicts(cfg._cfg_dict):
        if node.get('data_root') == old_root:
            node['data_root'] = data_root
    cfg.data_root = data_root


def config_dicts(node: Any) -> Iterator[dict]:
    """Every dict in a config node (the node itself, then the dicts in its
    values and lists, depth first), each before its contents, so a caller
    may change a dict's values as it gets it."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from config_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from config_dicts(value)


def set_work_dir(cfg: Config,
                 config_path: str,
                 work_dir: Optional[str] = None) -> None:
    """Set ``cfg.work_dir``: the command line, else the config, else
    ``work_dirs/<config name>`` (mmseg's rule)."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def dataset_parts(dataset: dict) -> List[dict]:
    """The leaf datasets of a dataset config: the config itself, or the
    parts of a ``ConcatDataset`` (nested ones too), in order.

    The dicts returned are the config's own (not copies), so changing them
    changes the config.
    """
    if dataset.get('type') == 'ConcatDataset' or 'datasets' in dataset:
        return [
            leaf for part in dataset['datasets']
            for leaf in dataset_parts(part)
        ]
    return [dataset]


def set_dataset_pipeline(dataset: dict, pipeline: list) -> dict:
    """Give every leaf dataset of ``dataset`` (see :func:`dataset_parts`) a
    copy of ``pipeline``; returns ``dataset``."""
    for part in dataset_parts(dataset):
        part['pipeline'] = copy.deepcopy(pipeline)
    return dataset


# The command-line helpers moved to ssformer_mmseg.cli.
__getattr__ = moved_names(
    __name__, {
        'add_runner_arguments': 'ssformer_mmseg.cli.add_runner_arguments',
        'runner_config': 'ssformer_mmseg.cli.runner_config',
    })

#: SSFormer-S at a fraction of its cost, as ``--cfg-options``: embed_dims 8
#: (its heads 1, 2, 5, 8 make the stage widths 8, 16, 40, 64, the head's
#: in_channels), one block per stage, 8 head channels and no pretrained
#: backbone (nothing is downloaded). Every code path of the real model: the
#: test suite's model and the GPU proof's dry run.
TINY_MODEL_OPTIONS = {
    'model.backbone.init_cfg': None,
    'model.backbone.embed_dims': 8,
    'model.backbone.num_layers': [1, 1, 1, 1],
    'model.decode_head.in_channels': [8, 16, 40, 64],
    'model.decode_head.channels': 8,
}


def cfg_option_argument(key: str, value: Any) -> str:
    """``key=value`` as a tool's ``--cfg-options`` reads it back with
    mmengine's ``DictAction``: lists without spaces (``[1,1,1,1]``),
    ``None`` as ``None``."""

    def text(item) -> str:
        if isinstance(item, (list, tuple)):
            return '[' + ','.join(text(v) for v in item) + ']'
        return str(item)

    return f'{key}={text(value)}'
