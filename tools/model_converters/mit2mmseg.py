"""Convert NVlabs MiT (SegFormer) weights to mmseg's MixVisionTransformer.

Example::

    python tools/model_converters/mit2mmseg.py mit_b2.pth mit_b2_mmseg.pth

and in a config::

    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='mit_b2_mmseg.pth')))
"""
import sys

from ssformer_mmseg.cli import convert_checkpoint_command

DESCRIPTION = """\
Convert NVlabs MiT weights (the ImageNet mit_b0.pth ... mit_b5.pth, or the
backbone of a SegFormer/SSFormer checkpoint with the 'backbone.' prefix and
no decode head) to mmseg's MixVisionTransformer layout, keys without prefix,
for a backbone init_cfg=dict(type='Pretrained', checkpoint=DST). The ImageNet
classifier head.* and profiler buffers (*.total_ops, *.total_params) are
dropped and listed; any other unexpected or missing key is an error. For a
full SSFormer checkpoint use ssformer2mmseg.py."""

if __name__ == '__main__':
    sys.exit(
        convert_checkpoint_command('mit', DESCRIPTION,
                                   'NVlabs MiT checkpoint (.pth)',
                                   'output state dict (.pth)'))
