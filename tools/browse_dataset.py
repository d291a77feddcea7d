"""Draw what the model trains on: augmented samples with their masks.

Each row of the picture is one training sample: first as loaded (resized to
the training size, no augmentation), then ``--views`` random augmentations
of it from the config's training pipeline. The mask is drawn as a
translucent fill with its outline, so misaligned masks stand out.

Example:
    python tools/browse_dataset.py configs/ssformer_s_kvasir.py \\
        --out work_dirs/browse/train_samples.png \\
        --cfg-options data_root=../shared/data
"""
import argparse
import copy
import os
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmcv.transforms import Compose  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import DATASETS  # noqa: E402

from ssformer_mmseg.config import load_config  # noqa: E402

#: Transforms that change a sample at random; left out for the first column.
AUGMENTATIONS = ('RandomApply', 'RandomResize', 'RandomCrop', 'RandomFlip',
                 'RandomRotate', 'RandomImageEnhance', 'RandomMaskDilateErode',
                 'PhotoMetricDistortion')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='training config')
    parser.add_argument(
        '--out', default='work_dirs/browse/train_samples.png',
        help='output PNG')
    parser.add_argument('--samples', type=int, default=6,
                        help='number of samples (rows)')
    parser.add_argument('--views', type=int, default=5,
                        help='augmented views per sample')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings; data_root=DIR moves every dataset')
    return parser.parse_args()


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BGR image with the polyp mask filled in translucent green, outlined;
    ignored pixels (255) in grey."""
    out = image.astype(np.float32)
    polyp = mask == 1
    out[polyp] = 0.6 * out[polyp] + 0.4 * np.array([0, 255, 0])
    out[mask == 255] = 0.5 * out[mask == 255] + 0.5 * 128
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(
        polyp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (0, 255, 0), 1)
    return out


def render(steps: Compose, info: dict) -> np.ndarray:
    # Transforms append to lists inside the sample (seg_fields): each view
    # needs its own deep copy.
    results = steps(copy.deepcopy(info))
    return overlay(results['img'], results['gt_seg_map'])


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset = DATASETS.build(dataset_cfg)
    pipeline = [
        step for step in cfg.train_pipeline if step['type'] != 'PackSegInputs'
    ]
    augmented = Compose(pipeline)
    plain = Compose([s for s in pipeline if s['type'] not in AUGMENTATIONS])

    rng = np.random.default_rng(args.seed)
    indices = rng.choice(len(dataset), min(args.samples, len(dataset)),
                         replace=False)
    np.random.seed(args.seed)  # the transforms draw from numpy's global RNG
    rows = []
    for count, index in enumerate(indices, 1):
        info = dataset.get_data_info(int(index))
        tiles = [render(plain, info)]
        tiles += [render(augmented, info) for _ in range(args.views)]
        for tile, label in zip(tiles, ['loaded'] + ['augmented'] * args.views):
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.concatenate(tiles, axis=1))
        print(f'[{count}/{len(indices)}] {osp.basename(info["img_path"])}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, np.concatenate(rows, axis=0))
    print(f'wrote {args.out}: {len(rows)} samples x (1 loaded + '
          f'{args.views} augmented), mask in green')


if __name__ == '__main__':
    main()
