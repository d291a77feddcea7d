"""Config loading shared by the command-line tools."""
import argparse
import os
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config, DictAction

from .compat import use_cpu_ddp_wrapper


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config and apply ``--cfg-options``.

    Beyond ``Config.merge_from_dict``, the option ``data_root=DIR`` moves
    every dataset of the config: configs compute each dataset's ``data_root``
    from the top-level ``data_root`` when they are parsed, so merging the
    top-level value alone would change nothing.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): Parsed ``--cfg-options``.

    Returns:
        Config: The config.
    """
    cfg = Config.fromfile(path)
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

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get('data_root') == old_root:
                node['data_root'] = data_root
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(cfg._cfg_dict)
    cfg.data_root = data_root


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str] = None) -> None:
    """Set ``cfg.work_dir``: the command line, else the config, else
    ``work_dirs/<config name>`` (mmseg's rule)."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options ``tools/train.py`` and ``tools/test.py`` share:
    ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--local-rank``."""
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs; data_root=DIR '
        'moves every dataset of the config')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def runner_config(args: argparse.Namespace) -> Config:
    """The config of a Runner, from the options of
    :func:`add_runner_arguments` and ``args.config``."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    use_cpu_ddp_wrapper(cfg)
    return cfg
