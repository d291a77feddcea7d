# SSFormer-L: SSFormer-S with the MiT-B4 encoder.
_base_ = ['./ssformer_s.py']

checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b4_20220624-d588d980.pth'  # noqa
model = dict(
    backbone=dict(
        num_layers=[3, 8, 27, 3],
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
