"""Smoke demo: build SSFormer-S and segment a generated colonoscopy-like frame.

Checks an installation end to end without any download or data: config ->
model (random weights, so the mask itself is meaningless) -> mmseg's
``inference_model`` -> probability map, mask and an overlay picture. The full
demo (train on synthetic polyps, then evaluate) replaces this once it lands.

Example:
    python tools/demo.py --out-dir work_dirs/demo
"""
import argparse
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ssformer_mmseg  # noqa: E402,F401  (compat + registration)
from mmengine import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.apis import inference_model, init_model  # noqa: E402
from mmseg.visualization import SegLocalVisualizer  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                          'ssformer_s.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--out-dir', default='work_dirs/demo')
    parser.add_argument('--size', type=int, default=352,
                        help='side of the generated frame (pixels)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def synthetic_frame(size: int, rng: np.random.Generator):
    """A colonoscopy-like BGR frame with one polyp and its {0, 1} mask."""
    noise = rng.normal(size=(size // 8, size // 8)).astype(np.float32)
    texture = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    vignette = 1 - 0.8 * ((xx - 0.5)**2 + (yy - 0.5)**2)
    mucosa = np.array([70, 90, 190], np.float32)  # BGR: reddish pink
    image = mucosa * (vignette + 0.06 * texture)[..., None]

    center = rng.uniform(0.3, 0.7, 2) * size
    axes = rng.uniform(0.1, 0.2, 2) * size
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(center[0]), int(center[1])),
                (int(axes[0]), int(axes[1])), float(rng.uniform(0, 180)), 0,
                360, 1, -1)
    shade = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), size / 40)
    image += shade[..., None] * np.array([10, 40, 40], np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def main() -> None:
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    image, mask = synthetic_frame(args.size, np.random.default_rng(args.seed))
    image_path = osp.join(args.out_dir, 'input.png')
    cv2.imwrite(image_path, image)

    cfg = Config.fromfile(args.config)
    cfg.test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(352, 352), keep_ratio=False),
        dict(type='PackSegInputs'),
    ]
    # checkpoint=None: random weights, and init_model also disables the
    # backbone's pretrained init_cfg, so nothing is downloaded.
    model = init_model(cfg, checkpoint=None, device='cpu')
    model.dataset_meta = dict(
        classes=('background', 'polyp'), palette=[[0, 0, 0], [255, 64, 64]])
    num_params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f'built {type(model.decode_head).__name__} segmentor '
          f'({num_params:.1f} M parameters) from {args.config}')

    start = time.perf_counter()
    result = inference_model(model, image_path)
    seconds = time.perf_counter() - start
    prob = result.seg_logits.data[0].numpy()
    pred = result.pred_sem_seg.data[0].numpy().astype(np.uint8)
    inter = float((pred & mask).sum())
    dice = 2 * inter / max(float(pred.sum() + mask.sum()), 1.0)

    cv2.imwrite(osp.join(args.out_dir, 'prob.png'),
                np.round(prob * 255).astype(np.uint8))
    cv2.imwrite(osp.join(args.out_dir, 'mask.png'), pred * 255)
    result.gt_sem_seg = PixelData(data=mask[None].astype(np.int64))
    visualizer = SegLocalVisualizer(save_dir=args.out_dir, alpha=0.5)
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        'overlay', image[..., ::-1], result, draw_gt=True, draw_pred=True,
        out_file=osp.join(args.out_dir, 'overlay.png'))

    print(f'segmented a {args.size}x{args.size} frame in {seconds:.2f} s; '
          f'foreground {pred.mean():.1%} of pixels, Dice vs. the generated '
          f'mask {dice:.3f} (random weights: checks the pipeline, not '
          'accuracy)')
    print(f'wrote input.png, prob.png, mask.png, overlay.png (left: ground '
          f'truth, right: prediction) to {args.out_dir}')


if __name__ == '__main__':
    main()
