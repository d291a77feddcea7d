"""Convert an official SSFormer checkpoint to ssformer-mmseg.

Example::

    python tools/model_converters/ssformer2mmseg.py ssformer_S.pth \
        ssformer_s_mmseg.pth

then use ``ssformer_s_mmseg.pth`` as a config's ``load_from`` or with
``mmengine.runner.load_checkpoint`` on a model built from
``configs/_base_/models/ssformer_s.py``.
"""
import argparse
import importlib.util
import os.path as osp
import sys
from typing import List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DESCRIPTION = """\
Convert an official SSFormer checkpoint (ssformer_S.pth / ssformer_L.pth,
NVlabs MiT backbone + Progressive Locality Decoder) to the layout of the
ssformer-mmseg EncoderDecoder, loadable with strict=True by mmengine's
load_checkpoint or as a config's load_from. The unused
decode_head.linear_fuse and any profiler buffers (*.total_ops,
*.total_params) are dropped and listed; any other unexpected or missing key
is an error."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official SSFormer checkpoint (.pth)')
    parser.add_argument(
        'dst', help='output checkpoint; saved as {"state_dict", "meta"}')
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
    convert_checkpoint_file(args.src, args.dst, kind='ssformer')


if __name__ == '__main__':
    main()
