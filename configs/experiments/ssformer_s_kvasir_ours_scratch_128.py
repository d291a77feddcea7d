# Side by side, our half: SSFormer-S from scratch on Kvasir-SEG's PraNet split
# with our recipe (configs/ssformer_s_kvasir.py) at 128x128; the twin of
# ssformer_s_kvasir_authors_scratch_128.py (the same 810 training frames,
# the same images seen, the same seed; see that file).
#
# Against our recipe: random initialisation, 128x128, the held-out split for
# validation, and the iterations of the twin's images seen: 8 epochs of
# 810 frames = 6480 images = 405 iterations of 16; the x0.1 step at 75 % of
# them (iteration 304), as at 15k of 20k; fp32.
_base_ = ['../ssformer_s_kvasir.py']
crop_size = (128, 128)
max_iters = 405
holdout = dict(fraction=0.1, seed=0)
model = dict(
    data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None))
train_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='LoadPolypAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(
        type='RandomApply',
        prob=0.5,
        transforms=[
            dict(
                type='RandomResize',
                scale=crop_size,
                ratio_range=(0.75, 1.25),
                keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop_size),
            dict(type='Pad', size=crop_size, pad_val=dict(img=0, seg=0)),
        ]),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(
        type='RandomRotate',
        prob=0.5,
        degree=(0, 359),
        pad_val=0,
        seg_pad_val=0),
    dict(
        type='RandomImageEnhance',
        methods=('contrast', 'sharpness', 'brightness'),
        prob=0.5,
        factor_range=(1.0, 1.1)),
    dict(type='RandomMaskDilateErode', kernel_range=(2, 5)),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadPolypAnnotations'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        holdout=dict(part='train', **holdout), pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file='splits/pranet/kvasir_train.txt',
        holdout=dict(part='val', **holdout),
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='KvasirSEGDataset',
        data_root={{_base_.data_root}},
        ann_file='splits/pranet/kvasir_test.txt',
        pipeline=test_pipeline))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        # Counted from begin (100): x0.1 at iteration 304.
        milestones=[204],
        gamma=0.1,
        by_epoch=False,
        begin=100,
        end=max_iters),
]
# Validated every 51 iterations (816 images, about the twin's epoch of 810).
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=51)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
