# Ablation of configs/experiments/ssformer_s_kvasir_scratch_224.py: the same
# MiT-B2 encoder, data, schedule, loss and budget, with mmseg's SegformerHead
# (all-MLP decoder: 1x1 projections of every stage to 256 channels, upsampled,
# concatenated and fused) in place of SSFormer's PLD. Every head setting is
# inherited: 256 channels match the PLD's width (SegFormer-B2 itself uses
# 768); align_corners=True also applies to SegformerHead's own feature
# resizing (the PLD resizes features with False); it matches SSFormer's final
# x4 upsampling.
# Run: tools/experiments/kvasir_from_scratch.sh DATA_ROOT WORK_DIR THIS_CONFIG
_base_ = ['./ssformer_s_kvasir_scratch_224.py']
model = dict(decode_head=dict(type='SegformerHead'))
