"""Convert an official SSFormer checkpoint to ssformer-mmseg.

Example::

    python tools/model_converters/ssformer2mmseg.py ssformer_S.pth \
        ssformer_s_mmseg.pth

then use ``ssformer_s_mmseg.pth`` as a config's ``load_from`` or with
``mmengine.runner.load_checkpoint`` on a model built from
``configs/_base_/models/ssformer_s.py``.
"""
import sys

from ssformer_mmseg.cli import convert_checkpoint_command

DESCRIPTION = """\
Convert an official SSFormer checkpoint (ssformer_S.pth / ssformer_L.pth,
NVlabs MiT backbone + Progressive Locality Decoder) to the layout of the
ssformer-mmseg EncoderDecoder, loadable with strict=True by mmengine's
load_checkpoint or as a config's load_from. The unused
decode_head.linear_fuse and any profiler buffers (*.total_ops,
*.total_params) are dropped and listed; any other unexpected or missing key
is an error."""

if __name__ == '__main__':
    sys.exit(
        convert_checkpoint_command(
            'ssformer', DESCRIPTION, 'official SSFormer checkpoint (.pth)',
            'output checkpoint; saved as {"state_dict", "meta"}'))
