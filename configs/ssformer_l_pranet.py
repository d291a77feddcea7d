# SSFormer-L on the PraNet protocol (train Kvasir + ClinicDB, test on five
# sets), 352x352.
_base_ = [
    './_base_/models/ssformer_l.py', './_base_/datasets/polyp_pranet.py',
    './_base_/default_runtime.py',
    './_base_/schedules/schedule_ssformer_20k.py'
]
