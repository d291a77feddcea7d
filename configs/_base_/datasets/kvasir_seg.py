# Kvasir-SEG with PraNet's 900 / 100 split. The data root comes from the
# POLYP_DATA_ROOT environment variable (default data/polyp, the layout written
# by tools/prepare_polyp_data.py) or `--cfg-options data_root=...`.
_base_ = ['./polyp_pipelines.py']

data_root = '{{$POLYP_DATA_ROOT:data/polyp}}'
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='KvasirSEGDataset',
        data_root=data_root,
        ann_file='splits/pranet/kvasir_train.txt',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='KvasirSEGDataset',
        data_root=data_root,
        ann_file='splits/pranet/kvasir_test.txt',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
# Per-image polyp scores as papers report them, per test set (0-1 scale).
# mmseg's pixel-pooled IoUMetric can be added:
# [dict(type='PolypMetric'), dict(type='IoUMetric', iou_metrics=['mDice'])]
val_evaluator = dict(type='PolypMetric')
test_evaluator = val_evaluator
