# SSFormer-S trained from scratch (no ImageNet weights) on Kvasir-SEG's PraNet
# split (900 train / 100 test) at 224x224, within about an hour of a 2-core
# CPU: the from-scratch results of docs/model_zoo.md. Reproduce with
# tools/experiments/kvasir_from_scratch.sh.
#
# Against configs/ssformer_s_kvasir.py: random initialisation; 224x224
# instead of 352x352 (0.4x the compute per image); batch 8; a from-scratch
# learning rate (AdamW 5e-4, warm-up, linear decay to 0) instead of the
# fine-tuning 1e-4; bf16 mixed precision, channels_last and fused AdamW
# (the fast training recipe, README "Speed"); 2400 iterations (~21 epochs).
# The hour was measured on a CPU with native bf16 (AVX-512 BF16); on one
# without (AVX2 only) PyTorch emulates bf16, many times slower than fp32,
# and AutocastOptimWrapper says so in the log.
_base_ = ['../ssformer_s_kvasir.py']
crop_size = (224, 224)
model = dict(
    data_preprocessor=dict(size=crop_size), backbone=dict(init_cfg=None))

# The base pipelines with every size at 224 (mmengine cannot edit a base
# file's list in place) and the mask dilate/erode kernel scaled likewise.
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
    dict(type='RandomMaskDilateErode', kernel_range=(2, 4)),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadPolypImage'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadPolypAnnotations'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    batch_size=8,
    # One worker decodes and augments while the two cores train.
    num_workers=1,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 2400
optim_wrapper = dict(
    type='AutocastOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW',
        lr=5e-4,
        betas=(0.9, 0.999),
        weight_decay=0.01,
        fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        by_epoch=False,
        begin=100,
        end=max_iters),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=400)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2))
# The base's safety hooks (exact resume, NaN guard) plus channels_last.
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='ChannelsLastHook')
]
randomness = dict(seed=0)
