"""Test a checkpoint, as mmseg's ``tools/test.py`` does, with SSFormer.

Examples:
    python tools/test.py configs/ssformer_s_kvasir.py work_dirs/x/iter_20000.pth
    python tools/test.py configs/ssformer_s_pranet.py ckpt.pth \\
        --show-dir overlays --cfg-options data_root=/data/polyp
"""
import argparse
import contextlib
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.runner import Runner  # noqa: E402

from ssformer_mmseg.apis.optimize import (  # noqa: E402
    add_fast_inference_arguments, fast_inference_options)
from ssformer_mmseg.compat import shutdown_distributed  # noqa: E402
from ssformer_mmseg.config import (add_runner_arguments,  # noqa: E402
                                   runner_config)
from ssformer_mmseg.partial_outputs import removed_on_error  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='directory to save 8-bit probability maps in, as '
        '<out>/<test set>/<image stem>.png at ground-truth resolution '
        '(the layout public polyp toolboxes read); for mmseg metrics, '
        'their predicted masks')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_pipeline (flips), '
        'probabilities averaged by its tta_model')
    parser.add_argument(
        '--show-dir',
        help='directory to save drawn images (ground truth and prediction)')
    add_fast_inference_arguments(parser)
    add_runner_arguments(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = runner_config(args)
    cfg.load_from = args.checkpoint
    if args.tta:
        cfg.test_dataloader.dataset = _with_pipeline(
            cfg.test_dataloader.dataset, cfg.tta_pipeline)
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.show_dir:
        # mmseg's hook draws every 50th image by default; --show-dir means all.
        cfg.default_hooks.visualization.update(draw=True, interval=1)
        cfg.visualizer.save_dir = args.show_dir
    fast = fast_inference_options(args)
    if fast is not None:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='FastInferenceHook', **fast)]
    evaluators = cfg.test_evaluator if isinstance(
        cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
    for evaluator in evaluators:
        if evaluator['type'] == 'PolypMetric':
            # per_image.csv and dice_vs_threshold.png beside the logs.
            evaluator.setdefault('report_dir', cfg.work_dir)
            if args.out is not None:
                evaluator['prob_map_dir'] = args.out
        elif args.out is not None:
            evaluator.update(output_dir=args.out, keep_results=True)
    with contextlib.ExitStack() as outputs:
        # A failure (e.g. an unreadable test image) leaves no partial maps
        # or drawings that could pass for a complete run.
        for folder in (args.out, args.show_dir):
            if folder is not None:
                outputs.enter_context(removed_on_error(folder))
        Runner.from_cfg(cfg).test()
    shutdown_distributed()


def _with_pipeline(dataset: dict, pipeline: list) -> dict:
    """The dataset config with ``pipeline``, also inside a ConcatDataset."""
    if dataset['type'] == 'ConcatDataset':
        dataset['datasets'] = [
            _with_pipeline(part, pipeline) for part in dataset['datasets']
        ]
    else:
        dataset['pipeline'] = pipeline
    return dataset


if __name__ == '__main__':
    main()
