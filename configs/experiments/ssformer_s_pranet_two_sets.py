# SSFormer-S on the PraNet protocol, validated and tested on the two PraNet
# test sets at hand (Kvasir, CVC-ClinicDB) instead of all five, and with no
# pretrained backbone (ImageNet weights cannot be downloaded everywhere):
# the training runs of the GPU proof (tools/gpu_proof/run.py,
# docs/gpu_proof.md), where only a slice of the two sets travels.
_base_ = ['../ssformer_s_pranet.py']
model = dict(backbone=dict(init_cfg=None))
two_test_sets = [
    dict(
        type='KvasirSEGDataset',
        data_root={{_base_.data_root}},
        ann_file='splits/pranet/kvasir_test.txt',
        pipeline={{_base_.test_pipeline}}),
    dict(
        type='CVCClinicDBDataset',
        data_root={{_base_.data_root}},
        ann_file='splits/pranet/clinicdb_test.txt',
        pipeline={{_base_.test_pipeline}}),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=two_test_sets))
test_dataloader = val_dataloader
