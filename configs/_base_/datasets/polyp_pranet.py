# The PraNet protocol: train on 900 Kvasir-SEG + 550 CVC-ClinicDB frames, test
# on Kvasir (100), CVC-ClinicDB (62), CVC-ColonDB (380), ETIS-LaribPolypDB
# (196) and CVC-300 (60). Every sample carries its set's name
# (``dataset_name``) so per-set scores can be told apart in one run. Data
# root: POLYP_DATA_ROOT (default data/polyp) or `--cfg-options data_root=...`.
_base_ = ['./polyp_pipelines.py']

data_root = '{{$POLYP_DATA_ROOT:data/polyp}}'
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                type='KvasirSEGDataset',
                data_root=data_root,
                ann_file='splits/pranet/kvasir_train.txt',
                pipeline={{_base_.train_pipeline}}),
            dict(
                type='CVCClinicDBDataset',
                data_root=data_root,
                ann_file='splits/pranet/clinicdb_train.txt',
                pipeline={{_base_.train_pipeline}}),
        ]))
test_sets = [
    dict(
        type='KvasirSEGDataset',
        data_root=data_root,
        ann_file='splits/pranet/kvasir_test.txt',
        pipeline={{_base_.test_pipeline}}),
    dict(
        type='CVCClinicDBDataset',
        data_root=data_root,
        ann_file='splits/pranet/clinicdb_test.txt',
        pipeline={{_base_.test_pipeline}}),
    dict(
        type='CVCColonDBDataset',
        data_root=data_root,
        pipeline={{_base_.test_pipeline}}),
    dict(
        type='ETISLaribPolypDBDataset',
        data_root=data_root,
        pipeline={{_base_.test_pipeline}}),
    dict(
        type='CVC300Dataset',
        data_root=data_root,
        pipeline={{_base_.test_pipeline}}),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=test_sets))
test_dataloader = val_dataloader
# Per-image polyp scores as papers report them, per test set (0-1 scale).
# mmseg's pixel-pooled IoUMetric can be added:
# [dict(type='PolypMetric'), dict(type='IoUMetric', iou_metrics=['mDice'])]
val_evaluator = dict(type='PolypMetric')
test_evaluator = val_evaluator
