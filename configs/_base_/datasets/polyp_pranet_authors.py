# The PraNet protocol for the authors' recipe: the official training pipeline
# on Kvasir-SEG + CVC-ClinicDB less 10 % of each (held out, the same on every
# run, seed 0) to choose the checkpoint on; the five test sets for testing.
_base_ = ['./polyp_pranet.py']

holdout = dict(fraction=0.1, seed=0)
train_dataloader = dict(
    batch_size=32,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(datasets=[
        dict(
            type='KvasirSEGDataset',
            data_root={{_base_.data_root}},
            ann_file='splits/pranet/kvasir_train.txt',
            holdout=dict(part='train', **holdout),
            pipeline={{_base_.authors_train_pipeline}}),
        dict(
            type='CVCClinicDBDataset',
            data_root={{_base_.data_root}},
            ann_file='splits/pranet/clinicdb_train.txt',
            holdout=dict(part='train', **holdout),
            pipeline={{_base_.authors_train_pipeline}}),
    ]))
val_dataloader = dict(
    dataset=dict(datasets=[
        dict(
            type='KvasirSEGDataset',
            data_root={{_base_.data_root}},
            ann_file='splits/pranet/kvasir_train.txt',
            holdout=dict(part='val', **holdout),
            pipeline={{_base_.test_pipeline}}),
        dict(
            type='CVCClinicDBDataset',
            data_root={{_base_.data_root}},
            ann_file='splits/pranet/clinicdb_train.txt',
            holdout=dict(part='val', **holdout),
            pipeline={{_base_.test_pipeline}}),
    ]))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets={{_base_.test_sets}}))
