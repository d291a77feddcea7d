# SSFormer-S with the authors' (official) training recipe, PraNet protocol,
# 352x352: batch 32, 2000 epochs (1-epoch warm-up, x0.1 every 200), the
# centred random zoom, soft bilinear masks and the official loss (BCE and a
# per-pixel Dice on the sigmoid output). Each difference from
# configs/ssformer_s_pranet.py, and the key that switches it:
# docs/training.md, "The authors' recipe".
#
# Declined: choosing the epoch on the test sets. The best checkpoint is
# chosen on 10 % of the training frames held out (save_best='mean/meanDic'),
# and the last one is kept too; test with tools/test.py as usual.
_base_ = [
    './_base_/models/ssformer_s.py',
    './_base_/datasets/polyp_pranet_authors.py', './_base_/default_runtime.py',
    './_base_/schedules/schedule_ssformer_authors.py'
]
model = dict(
    decode_head=dict(
        # Train on mask / 255 (PackPolypInputs' gt_soft_sem_seg).
        soft_targets=True,
        loss_decode=[
            dict(
                type='PixelDiceBCELoss', sigmoid_output=True, loss_weight=1.0)
        ]))
# Logs count epochs, as the schedule does.
log_processor = dict(by_epoch=True)
