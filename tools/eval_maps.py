"""Score saved prediction maps against ground truth, without a model.

This is how methods that only released their prediction maps are compared:
the maps are read as ``PRED_DIR/<test set>/<image stem>.png`` (the layout of
the public polyp toolboxes and of ``tools/test.py --out``), the ground truth
and the test sets come from a config's test dataloader, and every score is
computed exactly as ``PolypMetric`` computes it during testing.

Examples:
    python tools/eval_maps.py results/PraNet configs/ssformer_s_pranet.py
    python tools/eval_maps.py my_maps configs/ssformer_s_kvasir.py \\
        --sets Kvasir --cfg-options data_root=/data/polyp
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import DATASETS  # noqa: E402

from ssformer_mmseg.config import load_config  # noqa: E402
from ssformer_mmseg.datasets.polyp import IMAGE_SUFFIXES  # noqa: E402
from ssformer_mmseg.datasets.polyp_files import (  # noqa: E402
    PolypFileError, decode, listing, read_bytes, read_mask)
from ssformer_mmseg.evaluation.polyp_scores import (  # noqa: E402
    format_table, group_by_set, score_image, summarise, write_report)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n', 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('pred_dir', help='folder of <test set>/<stem>.png')
    parser.add_argument('config', help='config whose test sets to score')
    parser.add_argument(
        '--sets', help='comma-separated test sets to score (default: all)')
    parser.add_argument('--threshold', type=float, default=0.5,
                        help='threshold of mDice / mIoU (default: 0.5)')
    parser.add_argument(
        '--report-dir',
        help='where to write per_image.csv and dice_vs_threshold.png '
        '(default: work_dirs/eval_maps/<pred_dir name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings; data_root=DIR moves every dataset')
    return parser.parse_args(argv)


def ground_truth(cfg, sets: Optional[List[str]]) -> List[dict]:
    """Samples (image path, mask path, set name) of the config's test sets."""
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset_cfg = cfg.test_dataloader.dataset
    parts = dataset_cfg['datasets'] if dataset_cfg['type'] == 'ConcatDataset' \
        else [dataset_cfg]
    names = [DATASETS.get(part['type']).DATASET_NAME for part in parts]
    if sets is not None:
        unknown = sorted(set(sets) - set(names))
        if unknown:
            raise SystemExit(f'test sets not in {cfg.filename}: '
                             f'{", ".join(unknown)} (it has '
                             f'{", ".join(names)})')
    samples = []
    for name, part in zip(names, parts):
        if sets is None or name in sets:
            dataset = DATASETS.build(dict(part, pipeline=[]))
            samples += [
                dataset.get_data_info(i) for i in range(len(dataset))
            ]
    return samples


def find_map(pred_dir: str, sample: dict) -> Optional[str]:
    stem = osp.splitext(osp.basename(sample['img_path']))[0]
    folder = osp.join(pred_dir, sample['dataset_name'])
    for suffix in IMAGE_SUFFIXES:
        path = osp.join(folder, stem + suffix)
        if osp.isfile(path):
            return path
    return None


def read_map(path: str) -> np.ndarray:
    """An 8-bit grey prediction map (colour maps are converted)."""
    pred = decode(read_bytes(path), path)
    if pred.dtype != np.uint8:
        raise PolypFileError(path, f'{pred.dtype} map; expected 8 bits')
    if pred.ndim == 3:
        pred = cv2.cvtColor(pred[..., :3], cv2.COLOR_BGR2GRAY)
    return pred


def evaluate(pred_dir: str, samples: List[dict],
             threshold: float) -> List[dict]:
    """Score every sample's map; raise naming every missing map first."""
    maps = {id(s): find_map(pred_dir, s) for s in samples}
    missing = [s for s in samples if maps[id(s)] is None]
    if missing:
        raise PolypFileError(
            pred_dir, f'{len(missing)} prediction maps missing: ' + listing([
                osp.join(s['dataset_name'],
                         osp.splitext(osp.basename(s['img_path']))[0] +
                         '.png') for s in missing
            ]))
    scores = []
    report_every = max(1, len(samples) // 10)
    for count, sample in enumerate(samples, 1):
        path = maps[id(sample)]
        pred = read_map(path)
        gt = read_mask(sample['seg_map_path'])
        if pred.shape != gt.shape:
            raise PolypFileError(
                path, f'map is {pred.shape[1]}x{pred.shape[0]} but its '
                f'ground truth {sample["seg_map_path"]} is '
                f'{gt.shape[1]}x{gt.shape[0]}')
        scores.append(
            score_image(pred, gt, threshold, sample['dataset_name'],
                        osp.splitext(osp.basename(path))[0]))
        if count % report_every == 0 or count == len(samples):
            print(f'scored {count}/{len(samples)} maps', flush=True)
    return scores


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    sets = args.sets.split(',') if args.sets else None
    samples = ground_truth(cfg, sets)
    scores = evaluate(args.pred_dir, samples, args.threshold)
    summary = summarise(scores)
    counts = {k: len(v) for k, v in group_by_set(scores).items()}
    print(format_table(summary, counts))
    report_dir = args.report_dir or osp.join(
        'work_dirs', 'eval_maps', osp.basename(osp.normpath(args.pred_dir)))
    for path in write_report(scores, report_dir):
        print(f'wrote {path}')
    return summary


if __name__ == '__main__':
    try:
        main()
    except PolypFileError as error:
        raise SystemExit(f'error: {error}')
