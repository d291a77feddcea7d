# Optional: PLD on mmpretrain's ConvNeXt-T. Needs `pip install mmpretrain`
# (which needs torchvision); the core package never imports mmpretrain.
_base_ = ['./ssformer_s.py']

custom_imports = dict(
    imports=['ssformer_mmseg', 'mmpretrain.models'],
    allow_failed_imports=False)
checkpoint = 'https://download.openmmlab.com/mmclassification/v0/convnext/downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone.')),
    decode_head=dict(in_channels=[96, 192, 384, 768]))
