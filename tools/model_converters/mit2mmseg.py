"""Convert NVlabs MiT (SegFormer) weights to mmseg's MixVisionTransformer.

Example::

    python tools/model_converters/mit2mmseg.py mit_b2.pth mit_b2_mmseg.pth

and in a config::

    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='mit_b2_mmseg.pth')))
"""
import argparse
import importlib.util
import os.path as osp
import sys
from typing import List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DESCRIPTION = """\
Convert NVlabs MiT weights (the ImageNet mit_b0.pth ... mit_b5.pth, or the
backbone of a SegFormer/SSFormer checkpoint with the 'backbone.' prefix and
no decode head) to mmseg's MixVisionTransformer layout, keys without prefix,
for a backbone init_cfg=dict(type='Pretrained', checkpoint=DST). The ImageNet
classifier head.* and profiler buffers (*.total_ops, *.total_params) are
dropped and listed; any other unexpected or missing key is an error. For a
full SSFormer checkpoint use ssformer2mmseg.py."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='NVlabs MiT checkpoint (.pth)')
    parser.add_argument('dst', help='output state dict (.pth)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Convert ``args.src`` and save it to ``args.dst``."""
    args = parse_args(argv)
    # Imported after parsing so that --help does not pay for importing mmseg
    # (the package's __init__ does).
    if importlib.util.find_spec('ssformer_mmseg') is None:
        # Running from a clone without `pip install -e .`.
        sys.path.insert(0, REPO_ROOT)
    from ssformer_mmseg.checkpoint_converters import convert_checkpoint_file
    convert_checkpoint_file(args.src, args.dst, kind='mit')


if __name__ == '__main__':
    main()
