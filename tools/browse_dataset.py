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
import os
import os.path as osp

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import add_cfg_options_argument, add_config_argument
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets.image_io import write_image
from ssformer_mmseg.visualization.training_samples import draw_training_samples


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_config_argument(parser, 'training config')
    parser.add_argument(
        '--out',
        default='work_dirs/browse/train_samples.png',
        help='output PNG')
    parser.add_argument(
        '--samples', type=int, default=6, help='number of samples (rows)')
    parser.add_argument(
        '--views', type=int, default=5, help='augmented views per sample')
    parser.add_argument('--seed', type=int, default=0)
    add_cfg_options_argument(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    drawn = []

    def progress(done: int, total: int, path: str) -> None:
        drawn.append(path)
        print(f'[{done}/{total}] {osp.basename(path)}')

    picture = draw_training_samples(cfg, args.samples, args.views, args.seed,
                                    progress)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    write_image(args.out, picture)
    print(f'wrote {args.out}: {len(drawn)} samples x (1 loaded + '
          f'{args.views} augmented), mask in green')


if __name__ == '__main__':
    main()
