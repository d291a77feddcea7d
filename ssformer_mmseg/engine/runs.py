"""Training and test runs as ``tools/train.py`` and ``tools/test.py`` start
them: what their options change in the config, and running the Runner with
errors a user can act on."""
import contextlib
import logging
import urllib.error
from typing import Any, Iterable, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from ..config import config_dicts, set_dataset_pipeline
from ..evaluation.intervals import BootstrapSettings
from ..partial_outputs import staged
from .checkpoints import resumable_checkpoint
from .distributed import shutdown_distributed

_REMOTE = ('http://', 'https://')


class RunError(RuntimeError):
    """A run that cannot start or go on, for a reason the message explains
    (the tools print it without a traceback)."""


def use_amp(cfg: Config) -> None:
    """Mixed precision: fp16 with dynamic loss scaling on CUDA (mmengine's
    ``AmpOptimWrapper``), bf16 autocast on the CPU
    (:class:`~ssformer_mmseg.engine.AutocastOptimWrapper`)."""
    if cfg.optim_wrapper.type in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
        print_log(
            'AMP training is already enabled in the config.',
            logger='current',
            level=logging.WARNING)
    elif torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'


def add_hook(cfg: Config, hook: dict) -> None:
    """Append ``hook`` to the config's ``custom_hooks``."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]


def resume_from(cfg: Config) -> None:
    """Point ``cfg.load_from`` at the newest complete checkpoint of the work
    dir, skipping (with a warning) any that a crash left truncated.

    Raises:
        RunError: If the work dir has checkpoints but none is complete.
    """
    checkpoint, skipped = resumable_checkpoint(cfg.work_dir)
    for problem in skipped:
        print_log(
            f'not resuming from {problem}',
            logger='current',
            level=logging.WARNING)
    if checkpoint is not None:
        print_log(f'resuming from {checkpoint}', logger='current')
        cfg.load_from = checkpoint
    elif skipped:
        raise RunError(f'--resume: no complete checkpoint in {cfg.work_dir} '
                       f'({len(skipped)} unusable); remove them to start '
                       'afresh')


def weight_urls(node: Any) -> List[str]:
    """The http(s) ``checkpoint`` entries (``Pretrained`` ``init_cfg``)
    anywhere in a config node, in order."""
    checkpoints = (part.get('checkpoint') for part in config_dicts(node))
    return [
        c for c in checkpoints if isinstance(c, str) and c.startswith(_REMOTE)
    ]


def download_error(cfg: Config,
                   error: urllib.error.URLError) -> Optional[RunError]:
    """What to say when weights the config downloads cannot be reached:
    which URL, and the ways on; None if the config downloads nothing."""
    init_urls = weight_urls(cfg.get('model', {}))
    load_from = cfg.get('load_from')
    remote_load = isinstance(load_from, str) and load_from.startswith(_REMOTE)
    if not init_urls and not remote_load:
        return None
    ways = []
    if init_urls:
        ways += [
            'a local copy of the pretrained weights: --cfg-options '
            'model.backbone.init_cfg.checkpoint=PATH (mmseg\'s MiT weights, '
            'or NVlabs\' mit_b*.pth converted with '
            'tools/model_converters/mit2mmseg.py)',
            'training from scratch: --cfg-options model.backbone.init_cfg=None'
        ]
    if remote_load:
        ways.append('a local copy of the checkpoint: --cfg-options '
                    'load_from=PATH')
    urls = init_urls + ([load_from] if remote_load else [])
    return RunError(f'cannot download the pretrained weights '
                    f'{", ".join(urls)}: {error.reason}.\n' +
                    ('Two ways on' if len(ways) == 2 else 'Ways on') + ':\n' +
                    ''.join(f'  * {way}\n' for way in ways).rstrip())


def train(cfg: Config) -> None:
    """Build the Runner of ``cfg`` and train.

    Raises:
        RunError: If the pretrained weights cannot be downloaded (naming
            the URL and the two ways on).
    """
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except urllib.error.URLError as error:
        explained = download_error(cfg, error)
        if explained is None:  # not a download of weights
            raise
        raise explained from None
    shutdown_distributed()


def test_config(cfg: Config,
                checkpoint: str,
                out: Optional[str] = None,
                tta: bool = False,
                show_dir: Optional[str] = None,
                fast: Optional[dict] = None,
                bootstrap: Optional[BootstrapSettings] = None) -> None:
    """Set up ``cfg`` (in place) for testing ``checkpoint``.

    Args:
        cfg (Config): A Runner config.
        checkpoint (str): The weights.
        out (str, optional): Folder for the 8-bit probability maps
            (``PolypMetric``) or the predicted masks (mmseg's metrics).
        tta (bool): Test-time augmentation with the config's
            ``tta_pipeline`` and ``tta_model``.
        show_dir (str, optional): Folder for drawings of every image.
        fast (dict, optional): Keyword arguments of
            :func:`~ssformer_mmseg.optimize.optimize_for_inference`, run by
            :class:`~ssformer_mmseg.engine.FastInferenceHook`.
        bootstrap (BootstrapSettings, optional): The confidence intervals
            of ``PolypMetric`` (default: the metric's own).
    """
    cfg.load_from = checkpoint
    if tta:
        set_dataset_pipeline(cfg.test_dataloader.dataset, cfg.tta_pipeline)
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if show_dir:
        # mmseg's hook draws every 50th image by default; --show-dir means all.
        cfg.default_hooks.visualization.update(draw=True, interval=1)
        cfg.visualizer.save_dir = show_dir
    if fast is not None:
        add_hook(cfg, dict(type='FastInferenceHook', **fast))
    evaluators = cfg.test_evaluator if isinstance(
        cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
    for evaluator in evaluators:
        if evaluator['type'] == 'PolypMetric':
            # per_image.csv, scores.{json,csv} and dice_vs_threshold.png
            # beside the logs.
            evaluator.setdefault('report_dir', cfg.work_dir)
            if bootstrap is not None:
                evaluator.update(
                    bootstrap_resamples=bootstrap.resamples,
                    bootstrap_seed=bootstrap.seed)
            if out is not None:
                # Maps, report, frames and masks: a folder the web app's
                # review tab opens.
                evaluator['review_dir'] = out
        elif out is not None:
            evaluator.update(output_dir=out, keep_results=True)


def test(cfg: Config, output_dirs: Iterable[Optional[str]] = ()) -> dict:
    """Build the Runner of ``cfg`` and test; returns the metrics.

    What the run writes into ``output_dirs`` (what ``--out`` /
    ``--show-dir`` name, and ``cfg`` points at) goes to staging folders
    first and is moved into place only when the test has finished, so a
    failure (e.g. an unreadable test image) leaves those folders as they
    were: nothing that could pass for a complete run, and nothing of theirs
    removed or overwritten.
    """
    with contextlib.ExitStack() as outputs:
        for folder in output_dirs:
            if folder is not None:
                _redirect(cfg, folder, outputs.enter_context(staged(folder)))
        metrics = Runner.from_cfg(cfg).test()
    shutdown_distributed()
    return metrics


def _redirect(cfg: Config, folder: str, staging: str) -> None:
    """Point every setting of ``cfg`` that names ``folder`` at
    ``staging``."""
    for node in config_dicts(cfg._cfg_dict):
        for key, value in node.items():
            if isinstance(value, str) and value == folder:
                node[key] = staging
