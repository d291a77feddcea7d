# Kvasir-SEG (PraNet's 900 / 100 split) for the authors' recipe: the official
# training pipeline; 10 % of the training frames held out (the same on every
# run, seed 0) to choose the checkpoint on, the test split for testing.
_base_ = ['./kvasir_seg.py']

holdout = dict(fraction=0.1, seed=0)
train_dataloader = dict(
    batch_size=32,
    # Epochs, as the official script counts them (reshuffled every epoch;
    # the last batch of an epoch is a partial one).
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        holdout=dict(part='train', **holdout),
        pipeline={{_base_.authors_train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        ann_file='splits/pranet/kvasir_train.txt',
        holdout=dict(part='val', **holdout)))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='KvasirSEGDataset',
        data_root={{_base_.data_root}},
        ann_file='splits/pranet/kvasir_test.txt',
        pipeline={{_base_.test_pipeline}}))
