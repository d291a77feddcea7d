# SSFormer-L on Kvasir-SEG (PraNet's 900 / 100 split), 352x352.
_base_ = [
    './_base_/models/ssformer_l.py', './_base_/datasets/kvasir_seg.py',
    './_base_/default_runtime.py',
    './_base_/schedules/schedule_ssformer_20k.py'
]
