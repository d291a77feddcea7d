# The official recipe's optimiser (AdamW, lr 1e-4, PyTorch's default weight
# decay 0.01) with a linear warm-up and a x0.1 step, counted in iterations as
# mmseg does: 20k iterations of batch 16 are ~220 epochs of the 1450 PraNet
# training images (~355 of Kvasir's 900). See docs/training.md, "Training
# recipe".
# fused=True: PyTorch's single-kernel AdamW (CPU and CUDA, torch >= 2.4);
# the same update as the default implementation, faster.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.01,
        fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    # mmengine counts milestones from the scheduler's begin: x0.1 at 15k.
    dict(
        type='MultiStepLR',
        milestones=[14900],
        gamma=0.1,
        by_epoch=False,
        begin=100,
        end=20000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=2000,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
